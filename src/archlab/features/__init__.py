"""Features from frozen networks, extracted once and cached; projections of them."""
from pathlib import Path

CLASS_MAPS = Path(__file__).parent / "class_maps"  # model class indices per dataset class (patch_masking.load_class_map)
