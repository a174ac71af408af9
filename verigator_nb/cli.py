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
- ``verigator-nb report LOG --out report.html [--xlsx FILE] [--since DAY] [--until DAY]
  [--service ID] [--country CC] [--channel sms|totp] [--tag TAG]`` builds the HTML report from
  an outcome log, or from the part of it the filters keep.
- ``verigator-nb sample-data [--out PATH] [--http]`` regenerates
  ``data/sample_outcome_log.parquet`` from its seeds (the same rows either way).
- ``verigator-nb import SOURCE... [--format events|twilio|vonage] [--map COLUMN=FIELD,...]
  [--provider NAME] [--tags TEXT] [--assume-utc] [--summary FILE] --out LOG`` turns another
  provider's export, or the application's own events, into outcome-log rows
  (``docs/import.md``): appended to a JSONL log, or written as a ``.csv``/``.parquet``
  export; nothing is written when any record is refused.

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

if TYPE_CHECKING:  # the sandbox server and the importers load only when a subcommand runs
    from verigator_nb.importers import Imported
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
    parser.add_argument("--xlsx", help="also write every table to this .xlsx spreadsheet")
    only = parser.add_argument_group(
        "filters", "report on part of the log; a list option may be repeated or comma-separated"
    )
    only.add_argument("--since", help="first day (or moment, UTC) included, e.g. 2026-01-01")
    only.add_argument("--until", help="last day included (a moment: not included)")
    for name, what in _LIST_FILTERS.items():
        only.add_argument(f"--{name}", action="append", metavar=name.upper(), help=what)
    parser.set_defaults(run=_run_report)


_LIST_FILTERS = {
    "service": "a service id",
    "country": "an ISO country code of the user's phone, e.g. EE",
    "channel": "the channel the server used (sms or totp)",
    "tag": "a tag of the rows (e.g. a campaign)",
}


def _report_filters(args: argparse.Namespace) -> Any:
    """The report's ``Filters`` from the command line (``ValueError`` for a bad date)."""
    from verigator_nb.analysis import Filters

    lists = {
        name: [item for given in getattr(args, name) or () for item in given.split(",")]
        for name in _LIST_FILTERS
    }
    return Filters(since=args.since, until=args.until, **lists)


def _run_report(args: argparse.Namespace) -> int:
    from verigator_nb.demo import check_output_file
    from verigator_nb.report import report_command

    try:  # before the log is read: a bad --out fails at once
        for out in filter(None, (args.out, args.xlsx)):
            check_output_file(out)
    except OSError as exc:
        return _fail("report", _os_problem(exc))
    try:
        filters = _report_filters(args)
    except ValueError as exc:
        return _fail("report", str(exc))
    return report_command(args.log, args.out, xlsx_path=args.xlsx, filters=filters or None)


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


_FORMATS = ("events", "twilio", "vonage")
_EXPORTS = (".csv", ".parquet", ".pq")


def _add_import(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import",
        help="import another provider's export, or your own events, as outcome-log rows",
        description="Map Twilio Verify attempts (JSON), Vonage Verify v2 report records (CSV) "
        "or the application's own events (CSV or JSONL, by --map) onto the outcome log's "
        "columns (docs/import.md). A record that does not fit stops the import; nothing is "
        "written then.",
    )
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help="the file(s) to import")
    parser.add_argument(
        "--format", choices=_FORMATS, default="events", help="what the files are (default events)"
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD,...",
        help="events: which field holds each log column (ts, action and session_id at least; "
        "phone=FIELD keeps only its country); vonage: a report field's other header name",
    )
    parser.add_argument(
        "--provider",
        help="the provider column's value (default: the format's name; events: required)",
    )
    parser.add_argument("--tags", default="", help="labels for every row (comma separated)")
    parser.add_argument(
        "--assume-utc",
        action="store_true",
        help="events: take times without an offset as UTC (otherwise they are refused)",
    )
    parser.add_argument(
        "--summary",
        metavar="FILE",
        help="twilio: a Verification Attempts Summary to check the import against; nothing is "
        "written when they disagree",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="a .jsonl log (created, or added to) or a .csv/.parquet export (replaced)",
    )
    parser.set_defaults(run=_run_import)


def _run_import(args: argparse.Namespace) -> int:
    from verigator_nb.demo import check_output_file
    from verigator_nb.importers import ImportFormatError, MappingError

    try:  # before any file is read: a bad --out fails at once
        out = check_output_file(args.out)
        imported = _imported(args)
        if args.summary is not None:
            problem = _summary_problem(imported, args.summary)
            if problem:
                return _fail("import", problem)
        if out.suffix.lower() in _EXPORTS:
            log = imported.to_log()
            (log.to_csv if out.suffix.lower() == ".csv" else log.to_parquet)(out)
        else:
            imported.to_log(out).close()
    except OSError as exc:
        return _fail("import", _os_problem(exc))
    except (ImportFormatError, MappingError, ValueError) as exc:
        return _fail("import", exc)
    aside = ", ".join(f"{count} {reason}" for reason, count in imported.set_aside.items())
    print(
        f"imported {len(imported.df):,} rows ({imported.sessions:,} sessions) from "
        f"{imported.records:,} records into {out}, provider {imported.provider}"
        + (f"; set aside: {aside}" if aside else "")
    )
    return 0


def _imported(args: argparse.Namespace) -> Imported:
    """The import ``args`` ask for; ``ValueError`` for options its format does not take."""
    from verigator_nb import importers

    mapping = importers.parse_mapping(args.map) if args.map else {}
    options = {"tags": args.tags, **({"provider": args.provider} if args.provider else {})}
    if args.format != "events" and args.assume_utc:
        raise ValueError("--assume-utc is for events: provider exports carry their offsets")
    if args.format != "twilio" and args.summary is not None:
        raise ValueError("--summary is for --format twilio")
    if args.format == "twilio":
        if mapping:
            raise ValueError("--map is for events and vonage: Twilio's fields are fixed")
        return importers.import_twilio_attempts(args.sources, **options)
    if args.format == "vonage":
        return importers.import_vonage_reports(args.sources, columns=mapping, **options)
    if not mapping or not args.provider:
        raise ValueError("events need --map (ts, action and session_id at least) and --provider")
    return importers.import_events(
        args.sources, mapping=mapping, assume_utc=args.assume_utc, **options
    )


def _summary_problem(imported: Imported, path: str) -> str | None:
    """Why ``imported`` disagrees with the Twilio summary at ``path``, or ``None``."""
    from verigator_nb.importers import check_twilio_summary, read_twilio_summary

    check = check_twilio_summary(imported, read_twilio_summary(path))
    return None if check.matches else f"not written: {check.explain()}"


_SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (
    _add_sandbox,
    _add_demo,
    _add_quickstart,
    _add_report,
    _add_sample_data,
    _add_import,
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
