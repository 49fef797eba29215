"""The ``gnncc`` command line.

Each command is a module of this package with ``register(subparsers)``, which adds its
sub-parser and sets ``func`` (called with the parsed arguments, returning the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import gnncc.cli
from gnncc.errors import GnnccError

DESCRIPTION = """\
gnncc compiles PyTorch Geometric models into fused TVM kernels specialised for one graph.

examples:
  gnncc demo                      compile a 2-layer GCN and a GAT on Cora (CPU), check them
                                  against PyG and print both times
  gnncc demo --target cuda        the same on the GPU
  gnncc demo --explain            also print the optimised IR and kernels of each model

run 'gnncc COMMAND --help' for the options of each command.
"""


def build_parser() -> argparse.ArgumentParser:
    from gnncc import __version__

    parser = argparse.ArgumentParser(
        prog="gnncc", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"gnncc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(gnncc.cli.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"gnncc.cli.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except GnnccError as e:
        print(f"gnncc: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
