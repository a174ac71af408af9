"""``verigator-nb``: the command line (also ``python -m verigator_nb``).

One function per subcommand pair: ``_add_<name>(subparsers)`` declares its arguments and sets
``run=_run_<name>``; ``main`` parses and calls ``args.run(args)``, whose int is the exit
status. To add a subcommand, write the pair and list ``_add_<name>`` in ``_SUBCOMMANDS``.

- ``verigator-nb sandbox [--host H] [--port N] [--account USER:PASS ...] [--seed N]`` serves a
  sandbox until Ctrl-C (exit 0); it prints its URL and usernames, never a password.
- ``verigator-nb demo`` runs the quickstart flow against an in-process sandbox, narrated.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

__all__ = ["build_parser", "main"]


def _account(text: str) -> tuple[str, str]:
    """``user:pass`` as a pair (split on the first ``:``); anything else is a usage error."""
    username, sep, password = text.partition(":")
    if not sep or not username or not password:
        raise argparse.ArgumentTypeError("an account is USER:PASSWORD, both non-empty")
    return username, password


def _add_sandbox(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="serve a local Verigator sandbox until Ctrl-C",
        description="Serve a local Verigator sandbox over HTTP until interrupted (Ctrl-C).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port (default %(default)s; 0: any)")
    parser.add_argument(
        "--account",
        action="append",
        type=_account,
        metavar="USER:PASSWORD",
        help="an account to accept (repeatable; default sandbox:sandbox)",
    )
    parser.add_argument("--seed", type=int, help="reproducible clock, ids, PINs and secrets")
    parser.set_defaults(run=_run_sandbox)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run_sandbox(args: argparse.Namespace) -> int:
    from verigator_nb.sandbox import SandboxBackend, serve

    accounts = dict(args.account) if args.account else None
    try:
        server = serve(
            SandboxBackend(accounts=accounts, seed=args.seed), host=args.host, port=args.port
        )
    except (OSError, OverflowError, ValueError) as exc:
        print(
            f"verigator-nb sandbox: cannot listen on {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    names = ", ".join(server.router.backend.usernames)
    # Explicit handlers, set before the URL is printed (whoever reads it may signal at once):
    # a shell's background job starts with SIGINT ignored, and SIGTERM (a service manager's
    # stop) should shut down as cleanly as Ctrl-C.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"Verigator sandbox listening on {server.url} (accounts: {names})", flush=True)
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("Verigator sandbox stopped", flush=True)
    return 0


def _add_demo(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the quickstart flow against an in-process sandbox"
    )
    parser.add_argument("--seed", type=int, default=7, help="sandbox seed (default %(default)s)")
    parser.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from verigator_nb.demo import run_quickstart

    return 0 if run_quickstart(seed=args.seed) else 1


_SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (_add_sandbox, _add_demo)


def build_parser() -> argparse.ArgumentParser:
    """The ``verigator-nb`` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="verigator-nb", description="Explore the Verigator two-factor API."
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status (argparse exits 2 itself on a usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 2
    return run(args)
