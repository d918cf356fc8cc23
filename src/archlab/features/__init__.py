"""Features from frozen networks, extracted once and cached; projections of them."""
