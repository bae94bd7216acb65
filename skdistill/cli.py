"""The ``skdistill`` command line."""

import argparse
import sys


def _cmd_demo(args):
    from ._demo import run_demo

    run_demo(output=args.output, random_state=args.random_state)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="skdistill",
        description="Distill a tabular ensemble into one small, fast neural network.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="distill the default ensemble on a built-in dataset and compare",
        description="Distill the default teacher ensemble on scikit-learn's digits data and "
                    "print teacher vs student accuracy, fidelity, size and latency.",
    )
    demo.add_argument("-o", "--output", default="skdistill-demo-student.pkl",
                      help="where to save the student (default: %(default)s)")
    demo.add_argument("--random-state", type=int, default=0)
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv=None):
    """Entry point of the ``skdistill`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
