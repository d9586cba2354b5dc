"""The ``mlmkit`` command line: ``demo``, ``registry``, and the commands other layers add.

Command groups live next to the code they drive; each exposes ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

# Modules that add subcommands; each defines register(subparsers). Listed explicitly.
_COMMAND_MODULES = ("mlmkit._cli_core", "mlmkit.ops.commands", "mlmkit.viz.commands",
                    "mlmkit.simulation.commands", "mlmkit.server.commands")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available command group."""
    parser = argparse.ArgumentParser(prog="mlmkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from mlmkit.exceptions import MlmkitError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MlmkitError as err:
        print(f"mlmkit: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
