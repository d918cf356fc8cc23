"""Model builders and the weights layer."""
