"""``verigator-nb``: the command line (also ``python -m verigator_nb``).

One function per subcommand pair: ``_add_<name>(subparsers)`` declares its arguments and sets
``run=_run_<name>``; ``main`` parses and calls ``args.run(args)``, whose int is the exit
status. To add a subcommand, write the pair and list ``_add_<name>`` in ``_SUBCOMMANDS``.

- ``verigator-nb sandbox [--host H] [--port N] [--account USER:PASS ...] [--seed N]
  [--remote-faults] [--shared-clock-control] [--no-user-endpoints]`` serves a sandbox until
  Ctrl-C (exit 0); it prints its URL and usernames, never a password, and warns on stderr
  when it listens beyond loopback with the well-known default account.
- ``verigator-nb demo [--out reports] [--users N] [--seed N] [--http]`` simulates a campaign on
  a sandbox (in process; ``--http``: over its HTTP server) and writes its outcome log and HTML
  report, then prints a summary.
- ``verigator-nb quickstart`` runs one verification flow against a sandbox, narrated.
- ``verigator-nb report LOG --out report.html`` builds the HTML report from an outcome log.
- ``verigator-nb sample-data [--out PATH] [--http]`` regenerates
  ``data/sample_outcome_log.parquet`` from its seeds (the same rows either way).

A command that cannot do its job prints one line, ``verigator-nb <command>: <what is wrong>``,
on stderr and exits 1 (argparse's usage errors exit 2), never a traceback; where it will write
is checked before any work starts, so a bad ``--out`` fails at once rather than after a run.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the sandbox server is imported only when the subcommand runs
    from verigator_nb.sandbox import SandboxServer

__all__ = ["build_parser", "main"]


def _account(text: str) -> tuple[str, str]:
    """``user:pass`` as a pair (split on the first ``:``); anything else is a usage error."""
    username, sep, password = text.partition(":")
    if not sep or not username or not password:
        raise argparse.ArgumentTypeError("an account is USER:PASSWORD, both non-empty")
    return username, password


def _at_least_one(text: str) -> int:
    """A whole number of at least 1; anything else is a usage error, found before any work."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _fail(command: str, problem: object) -> int:
    """Print ``verigator-nb COMMAND: PROBLEM`` on stderr (one line, no traceback); status 1."""
    print(f"verigator-nb {command}: {problem}", file=sys.stderr)
    return 1


def _os_problem(exc: OSError) -> str:
    """An ``OSError`` as one line: our own messages as they are, the system's with its file."""
    if exc.strerror and exc.filename:
        return f"cannot write {exc.filename}: {exc.strerror}"
    return str(exc)


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
    parser.add_argument(
        "--shared-clock-control",
        action="store_true",
        help="let clients advance the clock over HTTP (POST /sandbox/clock); off because the "
        "clock is shared: one account moving it expires every account's PINs",
    )
    parser.add_argument(
        "--no-user-endpoints",
        dest="user_endpoints",
        action="store_false",
        help="serve no play-the-user calls (SMS outbox with its PINs, TOTP app, clock)",
    )
    parser.set_defaults(run=_run_sandbox)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _exposure_warning(server: SandboxServer) -> str | None:
    """A warning when anyone beyond this machine could log in with the default account."""
    router = server.router
    if server.loopback_only or not router.backend.has_default_account:
        return None
    host = server.url.rpartition(":")[0].removeprefix("http://")
    reads = " and read the SMS outbox (every PIN)" if router.user_endpoints else ""
    return (
        f"verigator-nb sandbox: warning: listening on {host}, beyond this machine, with the "
        f"default account whose password everyone knows: anyone who can connect can use "
        f"it{reads}. Give your own --account USER:PASSWORD, add --no-user-endpoints, or "
        "bind --host 127.0.0.1."
    )


def _run_sandbox(args: argparse.Namespace) -> int:
    from verigator_nb.sandbox import SandboxBackend, serve

    accounts = dict(args.account) if args.account else None
    try:
        backend = SandboxBackend(accounts=accounts, seed=args.seed)
        server = serve(
            backend,
            host=args.host,
            port=args.port,
            remote_faults=args.remote_faults,
            shared_clock_control=args.shared_clock_control,
            user_endpoints=args.user_endpoints,
        )
    except (OSError, OverflowError, ValueError) as exc:
        print(
            f"verigator-nb sandbox: cannot listen on {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    names = ", ".join(server.router.backend.usernames)
    warning = _exposure_warning(server)
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
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
        "--users", type=_at_least_one, default=600, help="synthetic users (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=7, help="sandbox and simulator seed")
    _add_http(parser)
    parser.set_defaults(run=_run_demo)


def _add_http(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--http",
        action="store_true",
        help="serve the sandbox over HTTP on 127.0.0.1 and simulate through it (slower; the "
        "same rows): by default it runs in this process, without a socket",
    )


def _run_demo(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from verigator_nb.demo import CAMPAIGN, run_campaign

    try:  # the output folder is checked before the sandbox starts
        run_campaign(
            args.out,
            population=replace(CAMPAIGN, users=args.users),
            seed=args.seed,
            http=args.http,
        )
    except OSError as exc:
        return _fail("demo", _os_problem(exc))
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
    from verigator_nb.demo import check_output_file
    from verigator_nb.report import report_command

    try:  # before the log is read: a bad --out fails at once
        check_output_file(args.out)
    except OSError as exc:
        return _fail("report", _os_problem(exc))
    return report_command(args.log, args.out)


def _add_sample_data(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sample-data", help="regenerate the sample outcome log in data/ from its fixed seeds"
    )
    parser.add_argument(
        "--out", default="data/sample_outcome_log.parquet", help="target (default %(default)s)"
    )
    _add_http(parser)
    parser.set_defaults(run=_run_sample_data)


def _run_sample_data(args: argparse.Namespace) -> int:
    from verigator_nb.demo import make_sample_data

    try:  # the target is checked before the simulation starts
        written = make_sample_data(args.out, http=args.http)
    except OSError as exc:
        return _fail("sample-data", _os_problem(exc))
    print(f"sample outcome log written to {written}")
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
