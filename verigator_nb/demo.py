"""``verigator-nb demo`` and ``verigator-nb quickstart``: the toolkit's jobs in one command each.

- ``run_campaign`` — the main job: start a sandbox, simulate a realistic campaign through it,
  write the outcome log and a self-contained HTML report, and print a short summary.
  Simulations run the sandbox in process (no socket: several times faster, the same rows);
  ``http=True`` (``--http``) puts its HTTP server in the loop instead.
- ``run_quickstart`` — one verification flow, narrated step by step.
- ``make_sample_data`` — the sample log in ``data/``, regenerated identically from its seeds.
- ``check_output_file`` — the check each of them (and ``verigator-nb report``) makes of where
  it will write, before any work starts: a bad ``--out`` fails in a second, not after a run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from verigator_nb import errors
from verigator_nb.client import Api
from verigator_nb.log import OutcomeLog
from verigator_nb.sandbox import Sandbox
from verigator_nb.simulate import Population, simulate

__all__ = [
    "CAMPAIGN",
    "LOG_FILE",
    "REPORT_FILE",
    "SAMPLE_POPULATION",
    "SAMPLE_SEED",
    "check_output_file",
    "make_sample_data",
    "run_campaign",
    "run_quickstart",
]

CAMPAIGN = Population(users=600, logins_per_user=3, days=28)
SAMPLE_POPULATION = Population(users=5000, logins_per_user=3, days=56)
SAMPLE_SEED = 2026
LOG_FILE = "verification_log.jsonl"
REPORT_FILE = "verification_report.html"


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a ``Path`` when a file can be written there; otherwise an ``OSError``
    (``IsADirectoryError``, ``NotADirectoryError``, ``FileNotFoundError``, ``PermissionError``)
    whose message is one sentence naming the path."""
    target = Path(path)
    folder = target.parent  # Path("report.html").parent is Path("."), the current folder
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a folder; name a file to write instead")
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, not a folder to write {target.name} into")
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder {folder} to write {target.name} into")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"no permission to write into the folder {folder}")
    return target


def _output_folder(out_dir: str | os.PathLike[str]) -> Path:
    """The campaign's folder, created if missing, with room for its log and report."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"{out} is a file, not an output folder") from None
    except OSError as exc:
        raise type(exc)(f"cannot create the output folder {out}: {exc.strerror}") from None
    for name in (LOG_FILE, REPORT_FILE):
        check_output_file(out / name)
    return out


def run_campaign(
    out_dir: str | os.PathLike[str] = "reports",
    *,
    population: Population = CAMPAIGN,
    seed: int = 7,
    say: Callable[[str], object] = print,
    http: bool = False,
) -> Path:
    """Simulate a campaign on a fresh sandbox; write its log and report; return the report path.

    The sandbox runs in process unless ``http=True`` (then over HTTP on 127.0.0.1); the log is
    the same either way, ``latency_ms`` aside. ``OSError`` when ``out_dir`` cannot hold the
    files, raised before the sandbox starts.
    """
    out = _output_folder(out_dir)
    log_path = out / LOG_FILE
    log_path.unlink(missing_ok=True)  # a new campaign, not an addition to the last one
    with OutcomeLog(log_path) as log, Sandbox(seed=seed, http=http) as sb:
        where = f"sandbox listening on {sb.url}" if http else "sandbox running in process"
        say(f"{where}; simulating {population.users} users ...")
        simulate(sb, population, seed=seed, log=log, tags="demo-campaign", progress=True, http=http)
        frame = log.df
    from verigator_nb import report  # matplotlib: loaded only by the commands that draw

    report_path = report.write(frame, out / REPORT_FILE, source_name=str(log_path))
    say(f"{len(frame):,} calls logged to {log_path}")
    say(f"report written to {report_path}\n")
    say(report.summary(frame))
    return report_path


def make_sample_data(path: str | os.PathLike[str], *, http: bool = False) -> Path:
    """Regenerate the sample outcome log (Parquet) from its fixed seeds.

    Every column repeats exactly from run to run, in process or (``http=True``) over HTTP,
    except ``latency_ms``, which is measured. ``OSError`` from ``check_output_file`` when
    ``path`` cannot be written, before simulating.
    """
    target = check_output_file(path)
    with Sandbox(seed=SAMPLE_SEED, http=http) as sb:
        log = simulate(
            sb, SAMPLE_POPULATION, seed=SAMPLE_SEED, tags="sample", progress=True, http=http
        )
    log.to_parquet(target)
    return target


def run_quickstart(say: Callable[[str], object] = print, *, seed: int = 7) -> bool:
    """Run the quickstart flow against a fresh seeded sandbox; True when every step behaved."""
    with Sandbox(seed=seed) as sb, sb.api() as api:
        you = sb.control(api)
        say(f"sandbox listening on {sb.url}")
        service = api.services.create("www.example.com", "CoffeeShop")
        user = api.users.create(service.id, "+4401234567", "john.doe@example.com")
        say(f"created service {service.name!r} and user {user.username!r}")

        started = api.auth.initiate(service.id, user.id, api.auth.METHOD_TOTP)
        say(f"asked for totp, server used {started.method} (fell back: {started.fallback})")
        wrong = api.auth.verify(started, "000000")
        say(f"wrong PIN  -> verified={wrong.verified}, result={wrong.result}")
        right = api.auth.verify(started, you.pin_for(started.auth_id))
        say(f"right PIN  -> verified={right.verified}")

        you.enrol_totp(service.id, user.id)
        app = api.auth.initiate(service.id, user.id, api.auth.METHOD_TOTP)
        totp = api.auth.verify(app, you.totp_code(service.id, user.id))
        say(f"with an app: server used {app.method}, TOTP code verified={totp.verified}")

        refused = _typed_error(lambda: Api("sandbox", "wrong", sb.url).services.get(service.id))
        say(f"wrong password -> {refused}")
        missing = _typed_error(lambda: api.users.get(service.id, "no-such-user"))
        say(f"unknown user   -> {missing}")
        return started.fallback and not wrong.verified and right.verified and totp.verified


def _typed_error(call: Callable[[], object]) -> str:
    try:
        call()
    except errors.VerigatorError as exc:
        return f"{type(exc).__name__} (HTTP {exc.status}: {exc.message})"
    return "no error"
