"""`python -m projections follow|status|rebuild [NAME]`: the same commands as `tandem projections`."""

import argparse
import sys

from projections.cli import add_commands

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m projections")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["projections", *sys.argv[1:]])
    sys.exit(int(args.func(args) or 0))
