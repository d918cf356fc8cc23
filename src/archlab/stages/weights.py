"""``archlab fetch-weights <spec>``: download remote weights once (run where there is internet)."""
from __future__ import annotations

from pathlib import Path

from archlab.models import weights


def register(sub) -> None:
    p = sub.add_parser("fetch-weights", help="download a weights spec into resources/weights (needs internet)")
    p.add_argument("spec", help="e.g. torchvision:resnet152:IMAGENET1K_V2, hf:google/vit-base-patch16-224")
    p.add_argument("--resources", default="resources")
    p.set_defaults(func=lambda args: print(weights.fetch(args.spec, Path(args.resources))))
