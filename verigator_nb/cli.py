"""``verigator-nb``: the command line (also ``python -m verigator_nb``).

One function per subcommand pair: ``_add_<name>(subparsers)`` declares its arguments and sets
``run=_run_<name>``; ``main`` parses and calls ``args.run(args)``, whose int is the exit
status. To add a subcommand, write the pair and list ``_add_<name>`` in ``_SUBCOMMANDS``.

- ``verigator-nb sandbox [--host H] [--port N] [--account USER:PASS ...] [--seed N]
  [--remote-faults]`` serves a sandbox until Ctrl-C (exit 0); it prints its URL and usernames,
  never a password.
- ``verigator-nb demo [--out reports] [--users N] [--seed N]`` simulates a campaign on a sandbox
  and writes its outcome log and HTML report, then prints a summary.
- ``verigator-nb quickstart`` runs one verification flow against a sandbox, narrated.
- ``verigator-nb report LOG --out report.html`` builds the HTML report from an outcome log.
- ``verigator-nb sample-data`` regenerates ``data/sample_outcome_log.parquet`` from its seeds.
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
    parser.add_argument(
        "--remote-faults",
        action="store_true",
        help="let clients inject faults over HTTP (POST /sandbox/faults), for client tests",
    )
    parser.set_defaults(run=_run_sandbox)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run_sandbox(args: argparse.Namespace) -> int:
    from verigator_nb.sandbox import SandboxBackend, serve

    accounts = dict(args.account) if args.account else None
    try:
        backend = SandboxBackend(accounts=accounts, seed=args.seed)
        server = serve(backend, host=args.host, port=args.port, remote_faults=args.remote_faults)
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
        "demo",
        help="simulate a campaign on a sandbox; write its log and an HTML report",
        description="Start a sandbox, simulate a realistic campaign, write "
        "OUT/verification_log.jsonl and OUT/verification_report.html, print a summary.",
    )
    parser.add_argument("--out", default="reports", help="output folder (default %(default)s)")
    parser.add_argument(
        "--users", type=int, default=600, help="synthetic users (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=7, help="sandbox and simulator seed")
    parser.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from verigator_nb.demo import CAMPAIGN, run_campaign

    run_campaign(args.out, population=replace(CAMPAIGN, users=args.users), seed=args.seed)
    return 0


def _add_quickstart(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "quickstart", help="run one verification flow against a sandbox, narrated"
    )
    parser.add_argument("--seed", type=int, default=7, help="sandbox seed (default %(default)s)")
    parser.set_defaults(run=_run_quickstart)


def _run_quickstart(args: argparse.Namespace) -> int:
    from verigator_nb.demo import run_quickstart

    return 0 if run_quickstart(seed=args.seed) else 1


def _add_report(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="build a self-contained HTML report from an outcome log",
        description="LOG: a .jsonl outcome log, a .csv or .parquet export, or a Parquet "
        "dataset folder.",
    )
    parser.add_argument("log", help="the outcome log to report on")
    parser.add_argument("--out", default="report.html", help="HTML file (default %(default)s)")
    parser.set_defaults(run=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from verigator_nb.report import report_command

    return report_command(args.log, args.out)


def _add_sample_data(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sample-data", help="regenerate the sample outcome log in data/ from its fixed seeds"
    )
    parser.add_argument(
        "--out", default="data/sample_outcome_log.parquet", help="target (default %(default)s)"
    )
    parser.set_defaults(run=_run_sample_data)


def _run_sample_data(args: argparse.Namespace) -> int:
    from verigator_nb.demo import make_sample_data

    print(f"sample outcome log written to {make_sample_data(args.out)}")
    return 0


_SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (
    _add_sandbox,
    _add_demo,
    _add_quickstart,
    _add_report,
    _add_sample_data,
)


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
