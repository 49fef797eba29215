"""The ``gnncc`` command line."""

from __future__ import annotations

import argparse
import sys

from gnncc.errors import GnnccError

DESCRIPTION = """\
gnncc compiles PyTorch Geometric models into fused TVM kernels specialised for one graph.

examples:
  gnncc demo                      compile a 2-layer GCN and a GAT on Cora (CPU), check them
                                  against PyG and print both times
  gnncc demo --target cuda        the same on the GPU
  gnncc demo --explain            also print the optimised IR and kernels of each model
"""


def _demo(args: argparse.Namespace) -> int:
    from gnncc.cli.demo import run_demo

    return run_demo(args.target, args.explain, args.repeat)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gnncc", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"gnncc {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="compile GCN and GAT on the built-in Cora graph, check against PyG, print times",
        description="Compile a 2-layer GCN and a 2-layer GAT (8 heads) on Cora, shipped with gnncc; "
        "check each output against PyG (relative error) and print gnncc and PyG times.",
    )
    demo.add_argument("--target", default="cpu", help="cpu (default) or cuda")
    demo.add_argument("--explain", action="store_true", help="print the optimised IR and kernels")
    demo.add_argument("--repeat", type=int, default=20, help="timed runs per model (median reported)")
    demo.set_defaults(func=_demo)
    return parser


def _version() -> str:
    from gnncc import __version__

    return __version__


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
