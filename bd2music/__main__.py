"""Command-line entry point: ``bd2music COMMAND ...`` or ``python -m bd2music COMMAND ...``."""

from __future__ import annotations

import argparse
import importlib
import sys

from bd2music.commands import COMMANDS
from bd2music.errors import InputError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per command (command modules are imported lazily)."""
    parser = argparse.ArgumentParser(prog="bd2music", description="Turn comic pages into soundtracks.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(module=module)
        importlib.import_module(module).add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; bad input ends with a one-line message on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "device", None) is not None:  # every command's --device, checked before any model loads
            from bd2music.audio.torch_descriptors import check_device

            check_device(args.device)
        return importlib.import_module(args.module).run(args)
    except InputError as error:
        print(f"bd2music {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bd2music {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
