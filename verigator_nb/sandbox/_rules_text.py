"""The rules prose of the OpenAPI document (``info.description``), formatted from the constants.

Every limit, method and result in it comes from where the sandbox takes it (``_rules``,
``_totp``, ``_limits``, ``_state``, ``verigator_nb.models``), so the prose cannot drift from
what the sandbox does; the calls it names are checked against ``_operations`` by the tests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Final

from verigator_nb.models import (
    METHOD_SMS,
    METHOD_TOTP,
    RESULT_EXPIRED,
    RESULT_INVALID,
    RESULT_THROTTLED,
    RESULT_VERIFIED,
)
from verigator_nb.sandbox._faults import MAX_FAULTS
from verigator_nb.sandbox._limits import MAX_BODY
from verigator_nb.sandbox._operations import OPERATIONS
from verigator_nb.sandbox._rules import (
    ADVANCE_YEARS,
    LOCKED_MESSAGE,
    PHONE_DIGITS,
    PIN_DIGITS,
    PIN_TTL,
    PIN_WRONG_LIMIT,
    TOTP_THROTTLE,
    TOTP_WRONG_LIMIT,
    USER_LOCKOUT,
    USER_WRONG_LIMIT,
)
from verigator_nb.sandbox._selectors import MAX_ROUTE
from verigator_nb.sandbox._state import SEEDED_START, format_time
from verigator_nb.sandbox._totp import DIGITS, DRIFT_STEPS, SECRET_BYTES, STEP_SECONDS

__all__ = ["RULES", "mib"]


def mib(size: int) -> str:
    """A byte count as the prose writes it: ``1 MiB``."""
    return f"{size / (1 << 20):g} MiB"


def _s(seconds: float) -> str:
    return f"{seconds:g} s"


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


_PUBLIC = " and ".join(f"`{op.method} {op.path}`" for op in OPERATIONS if op.public)
_LOCKED = json.dumps({"message": LOCKED_MESSAGE})
_START = datetime.fromtimestamp(SEEDED_START, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
_T, _S = METHOD_TOTP, METHOD_SMS  # short, so the prose below stays readable
_VERIFIED, _INVALID = RESULT_VERIFIED, RESULT_INVALID
_EXPIRED, _THROTTLED = RESULT_EXPIRED, RESULT_THROTTLED

RULES: Final = f"""\
A faithful local emulator of Messente's Verigator two-factor API (deprecated by its vendor),
for notebooks and tests. Rules decided by this project where the public sources are silent:

- Every call but {_PUBLIC} needs `X-Service-Auth: <username>:<password>`
  (401 when missing, malformed or wrong). Services and users belong to the account that
  created them: another account's answer 403 (revealing nothing), unknown ones 404.
- Create service and create user answer 201; start authentication answers 200; deletes
  answer 202 with `{{}}`. A service name is unique per account and an `id_in_service` per
  service (409). Deleting a service that still has users is 409. Deleting a user drops its
  authentications; its sent SMS stay in the outbox.
- `fqdn`, `name` and `id_in_service` are non-empty strings (no lone surrogates, 422);
  `phone_number` is E.164: `+` then {PHONE_DIGITS[0]} to {PHONE_DIGITS[1]} digits. Timestamps
  are ISO 8601 UTC: `{format_time(SEEDED_START)}`.
- Order of checks: unknown path 404, wrong method 405 (with `Allow`), auth 401, body 422,
  path resources 403/404, then the call's own rules (404 for an unknown `auth_id`, 409 for
  conflicts). Bodies over {mib(MAX_BODY)} are refused with 413 and the connection is closed.
- Start with `{_T}` uses the authenticator app when the user has one
  (`{json.dumps({"method": _T})}`), otherwise falls back to SMS
  (`{{"method": "{_S}", "auth_id": ...}}`): read `method` from the answer. Start while the
  user is locked out (below) is **409** `{_LOCKED}`.
- An SMS PIN has {PIN_DIGITS} digits (leading zeros kept), expires {_s(PIN_TTL)} after it was
  sent and allows {PIN_WRONG_LIMIT} wrong tries per `auth_id`; after that even the right PIN is
  `{_THROTTLED}`. An `auth_id` that verified once is spent: later checks answer `{_EXPIRED}`.
- TOTP is RFC 6238 ({_s(STEP_SECONDS)} steps, {DIGITS} digits, SHA-1, {SECRET_BYTES * 8}-bit
  secrets), {_steps(DRIFT_STEPS)} of drift either way; a step at or before the last one
  accepted for the user is a replay (`{_INVALID}`, counted). {TOTP_WRONG_LIMIT} wrong TOTP codes
  in a row throttle the user's TOTP checks for {_s(TOTP_THROTTLE)}. Verify with `{_T}` for a
  user without an app is `{_INVALID}` and not counted.
- {USER_WRONG_LIMIT} wrong tries in a row (any method, across `auth_id`s; a new start does not
  reset the count; a success does) lock the user for {_s(USER_LOCKOUT)}: verify answers
  `{_THROTTLED}`, start 409. Throttled and expired answers are not wrong tries.
- Check order for SMS: user locked → `{_THROTTLED}`; spent → `{_EXPIRED}`; {PIN_WRONG_LIMIT}
  wrong → `{_THROTTLED}`; expired → `{_EXPIRED}`; PIN → `{_VERIFIED}` or `{_INVALID}`. Verify
  always answers `status`, also on success (`result: {_VERIFIED}`, flags false).
- Lenient verify (the official Python client 1.0.x sent only `{{"token"}}`): without `method`
  the sandbox checks the given `auth_id`, else the user's most recent pending SMS
  authentication, else TOTP; `{_S}` without `auth_id` uses the user's most recent SMS
  authentication. An `auth_id` the user does not have, or `{_S}` for a user with no SMS
  authentication at all, is 404. `method: {_T}` ignores `auth_id`.
- Sandbox-only calls play the user: enrol an authenticator app (re-enrolling replaces the
  secret and forgets the last accepted step, but keeps throttles and counts), read the code
  the app shows now (404 when no app is enrolled), read the SMS outbox of the caller's
  account, and read or advance the sandbox clock (shared by all accounts of one sandbox;
  never backwards, at most {ADVANCE_YEARS} years per call). Advancing it is **403** unless
  the server allows it (`--shared-clock-control`; an in-process `Sandbox` does by default),
  since moving it for one account expires every account's PINs. A server started without
  play-the-user calls (`--no-user-endpoints`) answers them 404 and leaves them out of this
  document. A seeded sandbox starts its clock at {_START} and moves it only when advanced.
- Injected faults (for testing clients) are per account: `POST /sandbox/faults` replaces the
  caller's fault plan (403 unless the sandbox was started with `--remote-faults`), `GET`
  reads it with how many calls each fault broke, `DELETE` clears it; a plan (at most
  {MAX_FAULTS} faults) breaks only its own account's calls. A fault names a `route` (`*`,
  an operation such as `verify`, `initiate` or `get_service`, or `METHOD /path` compared
  segment by segment, `*` matching within one segment; at most {MAX_ROUTE} characters), a
  `kind` (`latency`, `error` answering `status`, `malformed` answering a 200 that is not
  JSON, `reset` closing the connection with a TCP reset, `stall` holding it `seconds` then
  closing it), a `rate` (0 to 1), an optional `count` cap, and `when`: `before` breaks the
  call before the sandbox applies it (nothing changes), `after` applies it and breaks only
  the answer (a lost reply). The first matching fault that fires wins; the fault and stats
  calls themselves are never broken. A seeded sandbox breaks the same calls on every run.
  `GET /sandbox/stats` counts the caller's own calls that reached the server, per operation
  (`?route=` counts one route, as a fault names it; a path route must write each path
  parameter as `*`).
"""
