"""How fast a Twilio Verification Attempts export becomes outcome-log rows, beside reading the
same file with ``json.load``.

Run: ``.venv/bin/python benchmarks/import_speed.py [--attempts 1000000] [--runs 3] [--write]``

A list page of ``--attempts`` attempts is generated once (seeded: 1 to 3 attempts per
verification, 95 % SMS, about 70 % converted, numbers of six countries). Each measurement runs
in a fresh interpreter, interleaved ``--runs`` times, and reports its median seconds and its
peak memory: the baseline, ``json.load`` of the file (parsing alone, no rows); then
``import_twilio_attempts`` (parsing, mapping, the log's row checks, the DataFrame); with
``--write``, also ``Imported.to_log`` into a new JSON Lines log (each row checked and written
again, as ``verigator-nb import --out log.jsonl`` does).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COUNTRIES = ("+44770090", "+1415555", "+3725550", "+4915112", "+9198765", "+5511955")
CHANNELS = ("sms",) * 19 + ("whatsapp",)
STEPS = ("json.load (baseline)", "import_twilio_attempts", "to_log (JSONL)")


def generate(path: Path, attempts: int, seed: int = 1) -> None:
    """A list page of ``attempts`` attempts in Twilio's documented shape."""
    rng = random.Random(seed)
    service = f"VA{rng.getrandbits(128):032x}"
    start = 1_772_323_200  # 2026-03-01T00:00:00Z
    written = verification = 0
    with path.open("w", encoding="utf-8") as stream:
        stream.write('{"attempts": [')
        while written < attempts:
            verification += 1
            number = rng.choice(COUNTRIES) + f"{rng.randrange(10**5):05d}"
            converted = rng.random() < 0.7
            when = start + rng.randrange(60 * 86400)
            for _ in range(min(rng.choice((1, 1, 1, 2, 3)), attempts - written)):
                sid = f"VL{rng.getrandbits(128):032x}"
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
                attempt = {
                    "sid": sid,
                    "account_sid": "AC" + "0" * 32,
                    "service_sid": service,
                    "verification_sid": f"VE{verification:032x}",
                    "date_created": stamp,
                    "date_updated": stamp,
                    "conversion_status": "converted" if converted else "unconverted",
                    "channel": rng.choice(CHANNELS),
                    "channel_data": {"to": number, "message_status": "delivered", "mcc": "234"},
                    "price": {"value": "0.0500", "currency": "usd"},
                    "url": f"https://verify.twilio.com/v2/Attempts/{sid}",
                }
                stream.write(("," if written else "") + json.dumps(attempt))
                written += 1
                when += rng.randrange(30, 120)
        stream.write('], "meta": {"key": "attempts", "page": 0, "next_page_url": null}}')


def child(step: str, source: str) -> None:
    """Run one step in this (fresh) interpreter; print its seconds, rows and peak memory."""
    started = time.perf_counter()
    if step == STEPS[0]:
        with open(source, encoding="utf-8") as stream:
            rows = len(json.load(stream)["attempts"])
        seconds = time.perf_counter() - started
    else:
        from verigator_nb.importers import import_twilio_attempts

        imported = import_twilio_attempts(source)
        seconds = time.perf_counter() - started
        rows = len(imported.df)
        if step == STEPS[2]:
            with tempfile.TemporaryDirectory() as folder:
                started = time.perf_counter()
                imported.to_log(Path(folder) / "log.jsonl").close()
                seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_mib": peak}))


def _measure(step: str, source: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="also time Imported.to_log")
    parser.add_argument("--child", nargs=2, metavar=("STEP", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    steps = STEPS if args.write else STEPS[:2]
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "attempts.json"
        generate(source, args.attempts)
        size = source.stat().st_size / 2**20
        print(f"{args.attempts:,} attempts, {size:,.0f} MiB of JSON; medians of {args.runs} runs")
        samples: dict[str, list[dict[str, float]]] = {step: [] for step in steps}
        for _ in range(args.runs):
            for step in steps:
                samples[step].append(_measure(step, source))
    floor = statistics.median(s["seconds"] for s in samples[STEPS[0]])
    rows = samples[STEPS[1]][0]["rows"]
    print(f"{rows:,} outcome-log rows ({rows / args.attempts:.2f} per attempt)")
    for step, runs in samples.items():
        seconds = statistics.median(run["seconds"] for run in runs)
        peak = max(run["peak_mib"] for run in runs)
        made = "        (no rows)" if step == STEPS[0] else f"{rows / seconds:9,.0f} rows/s"
        print(
            f"{step:<24}{seconds:7.1f} s  {args.attempts / seconds:9,.0f} attempts/s  "
            f"{made}  peak {peak:6,.0f} MiB  {seconds / floor:5.2f}x json.load"
        )


if __name__ == "__main__":
    main()
