"""A vectorised generator of realistic outcome logs, for tests and the scale benchmark.

``synthetic_log(rows)`` builds about ``rows`` rows of sessions: one initiate each (TOTP or SMS
asked, some falling back to SMS, a few failing with an error) and 0-4 verify calls, of which
only the last can be verified; failures are INVALID, EXPIRED, THROTTLED or an error. A small
share of sessions lose their initiate row (a log that starts mid-session), and some rows have
no country, so every corner of the metric definitions is exercised. numpy only, no row loops.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from verigator_nb.schema import COLUMN_NAMES, VERIGATOR, empty_frame

__all__ = ["synthetic_log"]

COUNTRIES = np.array(["EE", "LV", "LT", "FI", "GB", "US", "DE"])
FAIL_RESULTS = np.array(["INVALID", "EXPIRED", "THROTTLED"])
ERRORS = np.array(["RequestTimeoutError", "ResourceForbiddenError", "InternalError"])
VERIFY_COUNTS = np.array([0.12, 0.50, 0.23, 0.10, 0.05])  # P(k verify calls), k = 0..4
ROWS_PER_SESSION = 1 + float(np.arange(5) @ VERIFY_COUNTS)


def _strings(prefix: str, numbers: np.ndarray) -> pd.Series:
    return prefix + pd.Series(numbers).astype("str")


def _sessions(rng: np.random.Generator, count: int, start: pd.Timestamp, days: float) -> dict:
    asked_totp = rng.random(count) < 0.6
    init_error = rng.random(count) < 0.03
    method = np.where(asked_totp & (rng.random(count) >= 0.15), "totp", "sms").astype(object)
    method[init_error] = None
    country = COUNTRIES[rng.integers(0, len(COUNTRIES), count)].astype(object)
    country[rng.random(count) < 0.05] = None
    offsets = np.sort(rng.random(count)) * days * 86_400e6
    k = rng.choice(len(VERIFY_COUNTS), size=count, p=VERIFY_COUNTS)
    k[init_error] = 0
    return {
        "ts": start.to_datetime64().astype("datetime64[us]") + offsets.astype("timedelta64[us]"),
        "requested": np.where(asked_totp, "totp", "sms"),
        "method": method,
        "error": np.where(init_error, ERRORS[rng.integers(0, 3, count)], ""),
        "country": country,
        "k": k,
    }


def _verifies(rng: np.random.Generator, s: dict) -> dict:
    k = s["k"]
    owner = np.repeat(np.arange(len(k)), k)
    first_row = np.repeat(np.cumsum(k) - k, k)
    attempt = np.arange(len(owner)) - first_row + 1
    waits = rng.exponential(25e6, len(owner)) + 2e6
    cumulative = np.cumsum(waits)
    elapsed = cumulative - (cumulative[first_row] - waits[first_row])
    last = attempt == k[owner]
    draw = rng.random(len(owner))
    verified = last & (draw < 0.8)
    errored = ~verified & (draw > 0.93)
    result = FAIL_RESULTS[rng.choice(3, len(owner), p=[0.8, 0.15, 0.05])].astype(object)
    result[verified] = "VERIFIED"
    result[errored] = None
    answered = np.where(errored, None, verified).astype(object)
    return {
        "owner": owner,
        "ts": s["ts"][owner] + elapsed.astype("timedelta64[us]"),
        "attempt": attempt,
        "verified": answered,
        "result": result,
        "error": np.where(errored, ERRORS[rng.integers(0, 2, len(owner))], ""),
    }


def synthetic_log(
    rows: int,
    *,
    seed: int = 7,
    start: str = "2024-03-01",
    days: float = 28.0,
    first_session: int = 0,
    orphan_share: float = 0.005,
) -> pd.DataFrame:
    """About ``rows`` rows of outcome log at schema dtypes, sorted by ``ts``.

    Session ids are ``s<first_session + i>``, so logs built in chunks (different
    ``first_session`` and ``seed``) never share a session.
    """
    rng = np.random.default_rng(seed)
    count = max(1, round(rows / ROWS_PER_SESSION))
    s = _sessions(rng, count, pd.Timestamp(start), days)
    v = _verifies(rng, s)
    keep = rng.random(count) >= orphan_share
    owner = np.concatenate([np.flatnonzero(keep), v["owner"]])
    n_init, n_ver = int(keep.sum()), len(v["owner"])
    frame = pd.DataFrame(
        {
            "ts": np.concatenate([s["ts"][keep], v["ts"]]),
            "action": np.repeat(["initiate", "verify"], [n_init, n_ver]),
            "requested_method": np.concatenate([s["requested"][keep], np.full(n_ver, None)]),
            "method": np.concatenate([s["method"][keep], s["method"][v["owner"]]]),
            "verified": np.concatenate([np.full(n_init, None), v["verified"]]),
            "result": np.concatenate([np.full(n_init, None), v["result"]]),
            "error": np.concatenate([s["error"][keep], v["error"]]),
            "attempt": np.concatenate([np.full(n_init, None), v["attempt"]]),
            "country": s["country"][owner],
        }
    )
    return _finish(frame, rng, owner + first_session)


def _finish(frame: pd.DataFrame, rng: np.random.Generator, owner: np.ndarray) -> pd.DataFrame:
    n = len(frame)
    is_init = (frame["action"] == "initiate").to_numpy()
    asked_totp = (frame["requested_method"] == "totp").to_numpy()
    answered = frame["method"].notna().to_numpy()
    fallback = np.where(is_init & answered, asked_totp & (frame["method"] == "sms"), None)
    frame = frame.assign(
        event_id=_strings("e", np.arange(n) + owner.min() * 3),
        ts=pd.to_datetime(frame["ts"]).dt.tz_localize("UTC"),
        service_id="svc-1",
        user_id=_strings("u", owner % 5000),
        fallback=fallback,
        auth_id=None,
        http_status=np.where(frame["error"] == "", 200, 504),
        latency_ms=rng.gamma(2.0, 40.0, n),
        session_id=_strings("s", owner),
        endpoint="sandbox",
        tags=np.where(owner % 10 == 0, "campaign-a", ""),
        provider=VERIGATOR,
        number_range=_strings("+44 74009", (owner % 5000) // 100),  # 100 users a range
        number_type="mobile",
    )
    frame = frame[list(COLUMN_NAMES)].astype(empty_frame().dtypes.to_dict())
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)
