"""``python -m archlab <stage> …``: one command line per pipeline step, for Snakemake, DVC and people.

Every module in :mod:`archlab.stages` that defines ``register(subparsers)`` becomes a subcommand,
so a study adds its stage without touching this file.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import archlab.stages
from archlab.errors import ArchlabError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="<stage>")
    for info in sorted(pkgutil.iter_modules(archlab.stages.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"archlab.stages.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        args.func(args)
    except ArchlabError as exc:
        print(f"archlab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0
