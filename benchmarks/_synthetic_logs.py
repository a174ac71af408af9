"""Synthetic outcome logs that walk every corner of the metric contract, for the benchmarks.

``outcome_log(rows, seed=..., prefix=...)`` builds about ``rows`` rows (numpy, no row loops) of
logins: a user's sessions, some resent within 10 minutes (a few exactly 10 minutes apart, the
edge that stays in one login, and a few a microsecond past it), seven countries, two services
(one recorded by this toolkit, one imported from Twilio). Each session has an initiate
(TOTP or SMS asked; TOTP falls back to SMS for users without an app; some refused with a 4xx,
some failing with a 5xx or a timeout, part of those retried under the same ``session_id``) and
0-4 verifies (INVALID, EXPIRED, THROTTLED, VERIFIED; some timing out or failing with a 5xx,
some after the session verified, some without ``attempt``). Corners of the cleaning rules:
sessions whose initiate row is missing, verifies stamped before their initiate, rows without
``ts`` and rows logged twice (same ``event_id``, appended later in reading order).

Ids carry ``prefix``, so logs built in chunks with different prefixes share no user, session
or event.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from verigator_nb.analysis import DEFAULT_GAP
from verigator_nb.errors import (
    ConnectionFailedError,
    InternalError,
    InvalidDataError,
    RequestTimeoutError,
    ResourceAlreadyExistsError,
)
from verigator_nb.importers import TWILIO
from verigator_nb.models import (
    METHOD_SMS,
    METHOD_TOTP,
    RESULT_EXPIRED,
    RESULT_INVALID,
    RESULT_THROTTLED,
    RESULT_VERIFIED,
)
from verigator_nb.schema import (
    ACTION,
    ATTEMPT,
    AUTH_ID,
    COLUMN_NAMES,
    COUNTRY,
    ENDPOINT,
    ERROR,
    EVENT_ID,
    FALLBACK,
    HTTP_STATUS,
    INITIATE,
    LATENCY_MS,
    METHOD,
    PROVIDER,
    REQUESTED_METHOD,
    RESULT,
    SERVICE_ID,
    SESSION_ID,
    TAGS,
    TS,
    USER_ID,
    VERIFIED,
    VERIFY,
    VERIGATOR,
    empty_frame,
)

__all__ = ["ROWS_PER_SESSION", "outcome_log"]

COUNTRIES = np.array(["GB", "EE", "US", "DE", "IN", "BR", "LV"], dtype=object)
COUNTRY_SHARES = np.array([0.30, 0.15, 0.20, 0.15, 0.10, 0.05, 0.05])
USERS_PER_SESSION = 0.12  # distinct users per session: each user logs in about 8 times
VERIFY_COUNTS = np.array([0.10, 0.55, 0.22, 0.09, 0.04])  # P(k verifies | initiate succeeded)
ROWS_PER_SESSION = 2.35  # measured: what ``rows`` is divided by to get the sessions to build
GAP_US = DEFAULT_GAP // timedelta(microseconds=1)  # a login's most time between sessions

# Initiate outcomes: share, HTTP status (0: none came), error class.
_INITIATE_FAULTS = (
    (0.006, 409, ResourceAlreadyExistsError.__name__),
    (0.004, 400, InvalidDataError.__name__),
    (0.012, 503, InternalError.__name__),
    (0.008, 500, InternalError.__name__),
    (0.012, 0, RequestTimeoutError.__name__),
    (0.003, 0, ConnectionFailedError.__name__),
)
_RETRIED = 0.4  # of the initiates that got no answer or a 5xx: tried again, same session


def outcome_log(
    rows: int, *, seed: int, prefix: str = "", days: float = 90.0, start: str = "2024-01-01"
) -> pd.DataFrame:
    """About ``rows`` rows at the schema's dtypes over ``days`` from ``start`` (UTC): sorted
    by ``ts``, then the rows logged twice, then nothing else."""
    rng = np.random.default_rng(seed)
    sessions = _sessions(rng, max(1, round(rows / ROWS_PER_SESSION)), days, start)
    initiates = _initiates(rng, sessions)
    verifies = _verifies(rng, sessions, initiates)
    frame = pd.concat([initiates, verifies], ignore_index=True)
    frame = frame.sort_values(TS, kind="stable").reset_index(drop=True)
    frame[EVENT_ID] = f"e{prefix}-" + pd.Series(np.arange(len(frame))).astype("str")
    frame[SESSION_ID] = f"s{prefix}-" + frame[SESSION_ID].astype("str")
    frame[USER_ID] = f"u{prefix}-" + frame[USER_ID].astype("str")
    frame = _damaged(rng, frame)
    return frame[list(COLUMN_NAMES)].astype(empty_frame().dtypes.to_dict())


def _sessions(rng: np.random.Generator, count: int, days: float, start: str) -> pd.DataFrame:
    """One row per session: its user, start time, asked and used method, and whether it
    follows the user's previous session within the gap (a resend)."""
    users = max(1, int(count * USERS_PER_SESSION))
    has_app = rng.random(users) < 0.4
    country = rng.choice(COUNTRIES, size=users, p=COUNTRY_SHARES)
    country[rng.random(users) < 0.02] = None
    imported = rng.random(users) >= 0.8  # a fifth of the users: a service behind Twilio
    service = np.where(imported, "svc-b", "svc-a").astype(object)
    provider = np.where(imported, TWILIO, VERIGATOR).astype(object)
    # Logins first; about 6 % get a resend, 1 % two.
    logins = round(count / 1.07)
    user = rng.integers(0, users, logins)
    begin = pd.Timestamp(start, tz="UTC").value // 1000
    login_us = begin + (rng.random(logins) * days * 86_400e6).astype(np.int64)
    extra = np.where(rng.random(logins) < 0.06, 1, 0) + np.where(rng.random(logins) < 0.01, 1, 0)
    owner = np.repeat(np.arange(logins), 1 + extra)
    step = np.arange(len(owner)) - np.repeat(np.cumsum(1 + extra) - (1 + extra), 1 + extra)
    wait = rng.integers(20_000_000, GAP_US - 1_000_000, len(owner))
    edge = rng.random(len(owner))
    wait[edge < 0.01] = GAP_US  # exactly the gap: still one login
    wait[(edge >= 0.01) & (edge < 0.02)] = GAP_US + 1  # just past it: a new login
    wait[step == 0] = 0
    elapsed = np.cumsum(wait)
    offset = elapsed - elapsed[np.cumsum(1 + extra) - (1 + extra)][owner]
    session_user = user[owner]
    app = has_app[session_user]
    asked_totp = np.where(app, rng.random(len(owner)) < 0.75, rng.random(len(owner)) < 0.3)
    return pd.DataFrame(
        {
            SESSION_ID: np.arange(len(owner)),
            USER_ID: session_user,
            SERVICE_ID: service[session_user],
            PROVIDER: provider[session_user],
            COUNTRY: country[session_user],
            "us": login_us[owner] + offset,
            REQUESTED_METHOD: np.where(asked_totp, METHOD_TOTP, METHOD_SMS),
            "used": np.where(asked_totp & app, METHOD_TOTP, METHOD_SMS),
            "resent": np.r_[step[1:] > 0, False],  # the user asked again after this one
        }
    )


def _initiates(rng: np.random.Generator, s: pd.DataFrame) -> pd.DataFrame:
    """Initiate rows: each session's first, and a retry after some failures."""
    n = len(s)
    draw = rng.random(n)
    status = np.full(n, 200)
    error = np.full(n, "", dtype=object)
    floor = 0.0
    for share, code, name in _INITIATE_FAULTS:
        hit = (draw >= floor) & (draw < floor + share)
        status[hit], error[hit] = code, name
        floor += share
    unanswered = (status == 0) | (status >= 500)
    retried = unanswered & (rng.random(n) < _RETRIED)
    first = _initiate_rows(rng, s, status, error, s["us"].to_numpy())
    again = s[retried]
    retry_us = again["us"].to_numpy() + rng.integers(1_000_000, 5_000_000, len(again))
    retry = _initiate_rows(
        rng, again, np.full(len(again), 200), np.full(len(again), "", dtype=object), retry_us
    )
    sent_us = s["us"].to_numpy().copy()
    sent_us[retried] = retry_us
    s["sent"] = (status == 200) | retried  # a code went out: verifies may follow
    s["sent_us"] = sent_us
    return pd.concat([first, retry], ignore_index=True)


def _initiate_rows(
    rng: np.random.Generator, s: pd.DataFrame, status: np.ndarray, error: np.ndarray, us: np.ndarray
) -> pd.DataFrame:
    succeeded = status == 200
    method = np.where(succeeded, s["used"].to_numpy(), None)
    asked_totp = s[REQUESTED_METHOD].to_numpy() == METHOD_TOTP
    fallback = np.where(succeeded, asked_totp & (method == METHOD_SMS), None)
    return pd.DataFrame(
        {
            TS: us,
            SERVICE_ID: s[SERVICE_ID].to_numpy(),
            USER_ID: s[USER_ID].to_numpy(),
            ACTION: INITIATE,
            REQUESTED_METHOD: s[REQUESTED_METHOD].to_numpy(),
            METHOD: method,
            FALLBACK: fallback,
            AUTH_ID: np.where(succeeded & (method == METHOD_SMS), "a", None),
            VERIFIED: None,
            RESULT: None,
            HTTP_STATUS: np.where(status == 0, None, status),
            ERROR: error,
            LATENCY_MS: _latency(rng, status),
            SESSION_ID: s[SESSION_ID].to_numpy(),
            ATTEMPT: None,
            ENDPOINT: "sandbox",
            COUNTRY: s[COUNTRY].to_numpy(),
            TAGS: "",
            PROVIDER: s[PROVIDER].to_numpy(),
        }
    )


def _verifies(rng: np.random.Generator, s: pd.DataFrame, initiates: pd.DataFrame) -> pd.DataFrame:
    """Verify rows: 0-4 per session that sent a code (a resent one mostly 0 or 1)."""
    sent = s[s["sent"]]
    k = rng.choice(len(VERIFY_COUNTS), size=len(sent), p=VERIFY_COUNTS)
    k = np.where(sent["resent"].to_numpy(), np.minimum(k, 1), k)
    owner = np.repeat(np.arange(len(sent)), k)
    first_row = np.repeat(np.cumsum(k) - k, k)
    attempt = np.arange(len(owner)) - first_row + 1
    waits = (rng.exponential(25e6, len(owner)) + 2e6).astype(np.int64)
    cumulative = np.cumsum(waits)
    elapsed = cumulative - (cumulative[first_row] - waits[first_row])
    us = sent["sent_us"].to_numpy()[owner] + elapsed
    # Clock skew: a few sessions' first verify is stamped 2 s before the initiate.
    skewed = (attempt == 1) & (rng.random(len(owner)) < 0.002)
    us[skewed] = sent["us"].to_numpy()[owner][skewed] - 2_000_000
    last = attempt == k[owner]
    verdict = _verdicts(rng, last, sent["resent"].to_numpy()[owner])
    status = np.full(len(owner), 200)
    lost = rng.random(len(owner))
    status[lost < 0.02] = 0  # timeout: no verdict
    status[(lost >= 0.02) & (lost < 0.03)] = 503
    answered = status == 200
    result = np.where(answered, verdict, None)
    verified = np.where(answered, verdict == RESULT_VERIFIED, None)
    error = np.where(
        status == 0,
        RequestTimeoutError.__name__,
        np.where(status == 503, InternalError.__name__, ""),
    ).astype(object)
    rows = pd.DataFrame(
        {
            TS: us,
            SERVICE_ID: sent[SERVICE_ID].to_numpy()[owner],
            USER_ID: sent[USER_ID].to_numpy()[owner],
            ACTION: VERIFY,
            REQUESTED_METHOD: sent[REQUESTED_METHOD].to_numpy()[owner],
            METHOD: sent["used"].to_numpy()[owner],
            FALLBACK: None,
            AUTH_ID: None,
            VERIFIED: verified,
            RESULT: result,
            HTTP_STATUS: np.where(status == 0, None, status),
            ERROR: error,
            LATENCY_MS: _latency(rng, status),
            SESSION_ID: sent[SESSION_ID].to_numpy()[owner],
            ATTEMPT: np.where(rng.random(len(owner)) < 0.005, None, attempt),
            ENDPOINT: "sandbox",
            COUNTRY: sent[COUNTRY].to_numpy()[owner],
            TAGS: "",
            PROVIDER: sent[PROVIDER].to_numpy()[owner],
        }
    )
    return pd.concat([rows, _after_verified(rng, rows)], ignore_index=True)


def _verdicts(rng: np.random.Generator, last: np.ndarray, resent: np.ndarray) -> np.ndarray:
    """The server's result: only a session's last verify can verify (not a resent one)."""
    n = len(last)
    wrong = np.array([RESULT_INVALID, RESULT_EXPIRED, RESULT_THROTTLED], dtype=object)
    early = wrong[rng.choice(3, n, p=[0.85, 0.10, 0.05])]
    final = wrong[rng.choice(3, n, p=[0.60, 0.25, 0.15])]
    verified = last & ~resent & (rng.random(n) < 0.85)
    return np.where(verified, RESULT_VERIFIED, np.where(last, final, early))


def _after_verified(rng: np.random.Generator, rows: pd.DataFrame) -> pd.DataFrame:
    """A second check after 2 % of the verified verifies: the code is spent, EXPIRED."""
    done = rows[(rows[RESULT] == RESULT_VERIFIED).to_numpy() & (rng.random(len(rows)) < 0.02)]
    return done.assign(
        **{
            TS: done[TS] + 3_000_000,
            VERIFIED: False,
            RESULT: RESULT_EXPIRED,
            ATTEMPT: done[ATTEMPT].map(lambda a: None if a is None else a + 1),
        }
    )


def _latency(rng: np.random.Generator, status: np.ndarray) -> np.ndarray:
    """Milliseconds: a gamma spread, the whole timeout when none came, sometimes unmeasured."""
    latency = rng.gamma(2.0, 60.0, len(status))
    latency[status == 0] = 10_000.0
    latency[rng.random(len(status)) < 0.005] = np.nan
    return latency


def _damaged(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    """The log's flaws: 0.3 % of sessions without their first initiate row, 0.05 % of rows
    without ``ts``, and 0.3 % of rows logged a second time, after everything else."""
    first_initiate = (frame[ACTION] == INITIATE) & ~frame[SESSION_ID].duplicated()
    orphaned = first_initiate & (rng.random(len(frame)) < 0.003)
    frame = frame[~orphaned.to_numpy()].reset_index(drop=True)
    stamps = pd.to_datetime(frame[TS], unit="us", utc=True)
    frame[TS] = stamps.where(rng.random(len(frame)) >= 0.0005)
    again = frame[rng.random(len(frame)) < 0.003]
    return pd.concat([frame, again], ignore_index=True)
