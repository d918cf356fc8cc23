"""``python -m archlab <stage> …``: one command line per pipeline step, for Snakemake, DVC and people.

Every module in :mod:`archlab.stages` that defines ``register(subparsers)`` becomes a subcommand,
so a study adds its stage without touching this file. A command imports only its own module
(stage modules pull in torch, torchvision, transformers…: importing all of them would cost
seconds per pipeline job); ``-h`` and unknown commands import them all to list every stage.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import archlab.stages
from archlab.errors import ArchlabError


# commands whose module is not named after them
_MODULE_OF = {"fetch-weights": "weights", "validate": "data"}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for ``command`` alone when its module is known, else for every stage."""
    parser = argparse.ArgumentParser(prog="archlab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="<stage>")
    names = sorted(m.name for m in pkgutil.iter_modules(archlab.stages.__path__))
    wanted = _MODULE_OF.get(command, command)
    for name in [wanted] if wanted in names else names:
        module = importlib.import_module(f"archlab.stages.{name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        args.func(args)
    except ArchlabError as exc:
        print(f"archlab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0
