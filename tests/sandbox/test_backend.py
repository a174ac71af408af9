"""The sandbox's rules, driven directly on the backend with its manual clock: no HTTP."""

from __future__ import annotations

import base64
import math
import threading
import time
from collections.abc import Callable

import pyotp
import pytest

from verigator_nb.sandbox import ManualClock, SandboxBackend, _totp
from verigator_nb.sandbox._errors import Conflict, Forbidden, InvalidData, NotFound, Unauthorized
from verigator_nb.sandbox._state import format_time

ACCOUNT = "sandbox"
PHONE = "+4401234567"
TEN_YEARS = 10 * 365.25 * 86400


class FixedPins:
    """A random source whose PINs are always 000042 (ids and secrets still vary)."""

    def __init__(self) -> None:
        self._counter = 0

    def token_bytes(self, n: int) -> bytes:
        self._counter += 1
        return self._counter.to_bytes(n, "big")

    def below(self, n: int) -> int:
        return 42


@pytest.fixture
def backend() -> SandboxBackend:
    return SandboxBackend(seed=7)


@pytest.fixture
def ids(backend: SandboxBackend) -> tuple[str, str]:
    service = backend.create_service(ACCOUNT, "www.example.com", "CoffeeShop")
    user = backend.create_user(ACCOUNT, service.id, "john.doe@example.com", PHONE)
    return service.id, user.id


def _sms(backend: SandboxBackend, ids: tuple[str, str]) -> tuple[str, str]:
    """Start an SMS authentication; its auth_id and PIN."""
    started = backend.start_auth(ACCOUNT, *ids, "sms")
    assert started.auth_id is not None
    return started.auth_id, backend.outbox(ACCOUNT)[-1].pin


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _verify(backend: SandboxBackend, ids: tuple[str, str], token: str, **kw: str) -> str:
    return backend.verify(ACCOUNT, *ids, token, **kw).result


def _app(backend: SandboxBackend, ids: tuple[str, str]) -> Callable[[float], str]:
    """Enrol an app; a function giving its code at an offset from the sandbox clock."""
    totp = pyotp.TOTP(backend.enrol_totp(ACCOUNT, *ids).secret)
    return lambda offset=0.0: totp.at(backend.now() + offset)


# -- determinism and clock ---------------------------------------------------------------------


def _script(backend: SandboxBackend) -> list[str]:
    service = backend.create_service(ACCOUNT, "d", "n")
    user = backend.create_user(ACCOUNT, service.id, "u", PHONE)
    auth_id, pin = _sms(backend, (service.id, user.id))
    secret = backend.enrol_totp(ACCOUNT, service.id, user.id).secret
    return [service.id, user.id, auth_id, pin, secret, format_time(service.ctime)]


def test_same_seed_gives_same_ids_pins_secrets_and_times() -> None:
    first, second = _script(SandboxBackend(seed=7)), _script(SandboxBackend(seed=7))
    assert first == second
    assert first[:5] != _script(SandboxBackend(seed=8))[:5]


def test_unseeded_backends_differ() -> None:
    assert _script(SandboxBackend())[:5] != _script(SandboxBackend())[:5]


def test_ids_are_uuid4_shaped(backend: SandboxBackend, ids: tuple[str, str]) -> None:
    for value in ids:
        assert len(value) == 36 and value[14] == "4" and value[19] in "89ab"


def test_seeded_clock_starts_at_2026_and_moves_only_when_advanced(backend: SandboxBackend) -> None:
    assert format_time(backend.now()) == "2026-01-01T00:00:00.000000Z"
    assert backend.now() == backend.now()
    assert backend.advance(90.5) == backend.now()
    assert format_time(backend.now()) == "2026-01-01T00:01:30.500000Z"


def test_unseeded_clock_is_real_time_plus_what_was_advanced() -> None:
    backend = SandboxBackend()
    assert abs(backend.now() - time.time()) < 5
    backend.advance(3600)
    assert abs(backend.now() - time.time() - 3600) < 5


@pytest.mark.parametrize(
    "seconds",
    [
        pytest.param(-1, id="negative"),
        pytest.param(math.nan, id="nan"),
        pytest.param(math.inf, id="infinite"),
        pytest.param(True, id="bool"),
        pytest.param("5", id="string"),
        pytest.param(None, id="null"),
        pytest.param(TEN_YEARS + 1, id="over-ten-years"),
    ],
)
def test_advance_refuses_anything_but_zero_to_ten_years(
    backend: SandboxBackend, seconds: object
) -> None:
    before = backend.now()
    with pytest.raises(InvalidData):
        backend.advance(seconds)  # type: ignore[arg-type]
    assert backend.now() == before


def test_advance_accepts_zero_and_ten_years(backend: SandboxBackend) -> None:
    start = backend.now()
    assert backend.advance(0) == start
    assert backend.advance(TEN_YEARS) == start + TEN_YEARS


def test_advance_stops_before_timestamps_break() -> None:
    backend = SandboxBackend(clock=ManualClock(start=32503680000.0 - 100))  # year 3000
    with pytest.raises(InvalidData):
        for _ in range(700):
            backend.advance(TEN_YEARS)
    assert format_time(backend.now())  # still printable


# -- accounts and auth -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "account"),
    [
        pytest.param("sandbox:sandbox", "sandbox", id="right"),
        pytest.param("colon:pass:with:colons", "colon", id="split-on-first-colon"),
        pytest.param("sandbox:wrong", None, id="wrong-password"),
        pytest.param("nobody:sandbox", None, id="unknown-user"),
        pytest.param("sandbox", None, id="no-colon"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="missing"),
        pytest.param(":sandbox", None, id="empty-user"),
        pytest.param("sandbox:\ud800", None, id="lone-surrogate"),
    ],
)
def test_authenticate(header: str | None, account: str | None) -> None:
    backend = SandboxBackend(accounts={"sandbox": "sandbox", "colon": "pass:with:colons"})
    if account is None:
        with pytest.raises(Unauthorized) as caught:
            backend.authenticate(header)
        assert "sandbox" not in caught.value.message.replace("X-Service-Auth", "")
    else:
        assert backend.authenticate(header) == account


@pytest.mark.parametrize(
    "accounts",
    [
        pytest.param({}, id="none"),
        pytest.param({"a:b": "pw"}, id="colon-in-username"),
        pytest.param({"": "pw"}, id="empty-username"),
        pytest.param({"a": ""}, id="empty-password"),
    ],
)
def test_bad_accounts_are_refused_up_front(accounts: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        SandboxBackend(accounts=accounts)


def test_repr_never_shows_passwords() -> None:
    backend = SandboxBackend(accounts={"alice": "hunter2-secret"})
    assert "hunter2" not in repr(backend) and "alice" in repr(backend)
    assert backend.password_of("alice") == "hunter2-secret"


# -- services ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fqdn", "name"),
    [pytest.param("", "n", id="empty-fqdn"), pytest.param("d", "", id="empty-name")],
)
def test_service_fields_must_be_non_empty(backend: SandboxBackend, fqdn: str, name: str) -> None:
    with pytest.raises(InvalidData):
        backend.create_service(ACCOUNT, fqdn, name)


def test_service_name_is_unique_per_account_only() -> None:
    backend = SandboxBackend(accounts={"a": "a", "b": "b"})
    backend.create_service("a", "d", "Shop")
    with pytest.raises(Conflict):
        backend.create_service("a", "other.example.com", "Shop")
    assert backend.create_service("b", "d", "Shop").account == "b"


def test_another_accounts_service_is_forbidden_and_reveals_nothing() -> None:
    backend = SandboxBackend(accounts={"a": "a", "b": "b"})
    service = backend.create_service("a", "secret.example.com", "SecretShop")
    calls = [
        lambda: backend.get_service("b", service.id),
        lambda: backend.delete_service("b", service.id),
        lambda: backend.list_users("b", service.id),
        lambda: backend.create_user("b", service.id, "x", PHONE),
    ]
    for call in calls:
        with pytest.raises(Forbidden) as caught:
            call()
        assert "SecretShop" not in caught.value.message and service.id not in caught.value.message
    assert backend.get_service("a", service.id) is service


def test_unknown_service_is_not_found(backend: SandboxBackend) -> None:
    with pytest.raises(NotFound):
        backend.get_service(ACCOUNT, "no-such-service")


def test_service_with_users_cannot_be_deleted_until_they_are(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    with pytest.raises(Conflict):
        backend.delete_service(ACCOUNT, ids[0])
    backend.delete_user(ACCOUNT, *ids)
    backend.delete_service(ACCOUNT, ids[0])
    with pytest.raises(NotFound):
        backend.get_service(ACCOUNT, ids[0])


# -- users -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "ok"),
    [
        pytest.param("+1234567", True, id="7-digits"),
        pytest.param("+123456789012345", True, id="15-digits"),
        pytest.param("+123456", False, id="6-digits"),
        pytest.param("+1234567890123456", False, id="16-digits"),
        pytest.param("4401234567", False, id="no-plus"),
        pytest.param("+44 1234567", False, id="space"),
        pytest.param("+4401234567\n", False, id="trailing-newline"),
        pytest.param(
            "+\uff14\uff14\uff10\uff11\uff12\uff13\uff14\uff15\uff16", False, id="fullwidth"
        ),
        pytest.param("", False, id="empty"),
    ],
)
def test_phone_number_must_be_e164(backend: SandboxBackend, phone: str, ok: bool) -> None:
    service = backend.create_service(ACCOUNT, "d", "n")
    if ok:
        assert backend.create_user(ACCOUNT, service.id, "u", phone).phone_number == phone
    else:
        with pytest.raises(InvalidData):
            backend.create_user(ACCOUNT, service.id, "u", phone)


def test_empty_id_in_service_is_invalid(backend: SandboxBackend, ids: tuple[str, str]) -> None:
    with pytest.raises(InvalidData):
        backend.create_user(ACCOUNT, ids[0], "", PHONE)


def test_id_in_service_is_unique_per_service_only(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    with pytest.raises(Conflict):
        backend.create_user(ACCOUNT, ids[0], "john.doe@example.com", "+4409999999")
    other = backend.create_service(ACCOUNT, "d", "Other")
    assert backend.create_user(ACCOUNT, other.id, "john.doe@example.com", PHONE).id != ids[1]


def test_users_are_listed_in_creation_order(backend: SandboxBackend) -> None:
    service = backend.create_service(ACCOUNT, "d", "n")
    names = ["zed", "alice", "mike"]
    for name in names:
        backend.create_user(ACCOUNT, service.id, name, PHONE)
    assert [u.id_in_service for u in backend.list_users(ACCOUNT, service.id)] == names


def test_deleting_a_user_drops_its_auths_but_keeps_the_outbox(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    auth_id, _ = _sms(backend, ids)
    backend.delete_user(ACCOUNT, *ids)
    with pytest.raises(NotFound):
        backend.get_user(ACCOUNT, *ids)
    with pytest.raises(NotFound):
        backend.verify(ACCOUNT, *ids, "123456", method="sms", auth_id=auth_id)
    assert [m.auth_id for m in backend.outbox(ACCOUNT)] == [auth_id]


# -- starting authentication -------------------------------------------------------------------


def test_totp_without_an_app_falls_back_to_sms_and_sends_a_pin(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    backend.advance(42)
    started = backend.start_auth(ACCOUNT, *ids, "totp")
    assert started.method == "sms" and started.auth_id
    [message] = backend.outbox(ACCOUNT)
    assert (message.to, message.auth_id, message.sent_at) == (PHONE, started.auth_id, backend.now())
    assert len(message.pin) == 6 and message.pin.isdigit()
    assert message.text == f"CoffeeShop verification code: {message.pin}"
    assert message.pin not in repr(message)


def test_totp_with_an_app_uses_totp_and_sends_nothing(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    _app(backend, ids)
    started = backend.start_auth(ACCOUNT, *ids, "totp")
    assert (started.method, started.auth_id) == ("totp", None)
    assert backend.outbox(ACCOUNT) == []


def test_sms_with_an_app_still_sends_an_sms(backend: SandboxBackend, ids: tuple[str, str]) -> None:
    _app(backend, ids)
    assert backend.start_auth(ACCOUNT, *ids, "sms").method == "sms"


@pytest.mark.parametrize("method", ["email", "TOTP", ""])
def test_start_with_unknown_method_is_invalid(
    backend: SandboxBackend, ids: tuple[str, str], method: str
) -> None:
    with pytest.raises(InvalidData):
        backend.start_auth(ACCOUNT, *ids, method)


def test_pins_keep_leading_zeros() -> None:
    backend = SandboxBackend(clock=ManualClock(), source=FixedPins())
    service = backend.create_service(ACCOUNT, "d", "n")
    ids = (service.id, backend.create_user(ACCOUNT, service.id, "u", PHONE).id)
    auth_id, pin = _sms(backend, ids)
    assert pin == "000042"
    assert _verify(backend, ids, "42", method="sms", auth_id=auth_id) == "INVALID"
    assert _verify(backend, ids, "000042", method="sms", auth_id=auth_id) == "VERIFIED"


# -- verifying SMS -----------------------------------------------------------------------------


def test_wrong_pin_is_invalid_and_right_pin_verifies(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    auth_id, pin = _sms(backend, ids)
    assert _verify(backend, ids, _wrong(pin), method="sms", auth_id=auth_id) == "INVALID"
    check = backend.verify(ACCOUNT, *ids, pin, method="sms", auth_id=auth_id)
    assert (check.method, check.result, check.verified) == ("sms", "VERIFIED", True)


def test_spent_auth_id_is_expired_and_not_counted(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    auth_id, pin = _sms(backend, ids)
    assert _verify(backend, ids, pin, auth_id=auth_id) == "VERIFIED"
    for _ in range(12):
        assert _verify(backend, ids, pin, method="sms", auth_id=auth_id) == "EXPIRED"
    backend.start_auth(ACCOUNT, *ids, "sms")  # not locked: spent answers are not wrong tries


@pytest.mark.parametrize(
    ("elapsed", "result"),
    [
        pytest.param(299.999, "VERIFIED", id="just-before-5-minutes"),
        pytest.param(300, "EXPIRED", id="at-5-minutes"),
        pytest.param(3600, "EXPIRED", id="an-hour-later"),
    ],
)
def test_pin_expires_300_seconds_after_sending(
    backend: SandboxBackend, ids: tuple[str, str], elapsed: float, result: str
) -> None:
    auth_id, pin = _sms(backend, ids)
    backend.advance(elapsed)
    assert _verify(backend, ids, pin, method="sms", auth_id=auth_id) == result


def test_five_wrong_pins_throttle_the_auth_id_even_for_the_right_pin(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    auth_id, pin = _sms(backend, ids)
    results = [_verify(backend, ids, _wrong(pin), auth_id=auth_id) for _ in range(5)]
    assert results == ["INVALID"] * 5
    assert _verify(backend, ids, pin, method="sms", auth_id=auth_id) == "THROTTLED"
    fresh, fresh_pin = _sms(backend, ids)
    assert _verify(backend, ids, fresh_pin, method="sms", auth_id=fresh) == "VERIFIED"


def test_throttled_answers_are_not_wrong_tries(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    auth_id, pin = _sms(backend, ids)
    for _ in range(5):
        _verify(backend, ids, _wrong(pin), method="sms", auth_id=auth_id)
    for _ in range(5):  # throttled: must not push the user's streak from 5 to 10
        assert _verify(backend, ids, _wrong(pin), method="sms", auth_id=auth_id) == "THROTTLED"
    fresh, fresh_pin = _sms(backend, ids)
    for _ in range(4):
        _verify(backend, ids, _wrong(fresh_pin), method="sms", auth_id=fresh)
    assert _verify(backend, ids, fresh_pin, method="sms", auth_id=fresh) == "VERIFIED"


# -- the user lockout --------------------------------------------------------------------------


def _lock_out(backend: SandboxBackend, ids: tuple[str, str]) -> tuple[str, str]:
    """Ten wrong PINs over two auth_ids; returns a third, still pending, auth_id and PIN."""
    pending = _sms(backend, ids)
    for _ in range(2):
        auth_id, pin = _sms(backend, ids)
        for _ in range(5):
            assert _verify(backend, ids, _wrong(pin), method="sms", auth_id=auth_id) == "INVALID"
    return pending


def test_ten_wrong_tries_lock_the_user_for_fifteen_minutes(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    auth_id, pin = _lock_out(backend, ids)
    with pytest.raises(Conflict) as caught:
        backend.start_auth(ACCOUNT, *ids, "sms")
    assert caught.value.message == "user is temporarily locked after too many failed attempts"
    assert _verify(backend, ids, pin, method="sms", auth_id=auth_id) == "THROTTLED"
    backend.advance(899)
    with pytest.raises(Conflict):
        backend.start_auth(ACCOUNT, *ids, "totp")
    backend.advance(1)
    fresh, fresh_pin = _sms(backend, ids)
    assert _verify(backend, ids, fresh_pin, method="sms", auth_id=fresh) == "VERIFIED"


def test_lockout_streak_starts_again_from_zero_after_the_lockout(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    _lock_out(backend, ids)
    backend.advance(900)
    app = _app(backend, ids)
    for _ in range(4):
        assert _verify(backend, ids, _wrong(app()), method="totp") == "INVALID"
    backend.advance(300)
    auth_id, pin = _sms(backend, ids)
    for _ in range(5):
        _verify(backend, ids, _wrong(pin), method="sms", auth_id=auth_id)
    backend.start_auth(ACCOUNT, *ids, "sms")  # 9 wrong since the lockout: not locked


def test_wrong_tries_count_across_methods(backend: SandboxBackend, ids: tuple[str, str]) -> None:
    app = _app(backend, ids)
    for _ in range(5):
        assert _verify(backend, ids, _wrong(app()), method="totp") == "INVALID"
    auth_id, pin = _sms(backend, ids)
    for _ in range(5):
        _verify(backend, ids, _wrong(pin), method="sms", auth_id=auth_id)
    with pytest.raises(Conflict):
        backend.start_auth(ACCOUNT, *ids, "sms")
    assert _verify(backend, ids, app(), method="totp") == "THROTTLED"


def test_success_resets_the_users_streak(backend: SandboxBackend, ids: tuple[str, str]) -> None:
    for _ in range(3):
        auth_id, pin = _sms(backend, ids)
        for _ in range(4):
            _verify(backend, ids, _wrong(pin), method="sms", auth_id=auth_id)
        assert _verify(backend, ids, pin, method="sms", auth_id=auth_id) == "VERIFIED"


# -- verifying TOTP ----------------------------------------------------------------------------


def test_enrolment_gives_a_160_bit_base32_secret_and_an_otpauth_uri(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    enrolment = backend.enrol_totp(ACCOUNT, *ids)
    assert len(enrolment.secret) == 32 and set(enrolment.secret) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    )
    parsed = pyotp.parse_uri(enrolment.otpauth_uri)
    assert (parsed.secret, parsed.name, parsed.issuer) == (
        enrolment.secret,
        "john.doe@example.com",
        "CoffeeShop",
    )
    assert enrolment.secret not in repr(enrolment)


def test_current_code_verifies(backend: SandboxBackend, ids: tuple[str, str]) -> None:
    app = _app(backend, ids)
    check = backend.verify(ACCOUNT, *ids, app(), method="totp")
    assert (check.method, check.result) == ("totp", "VERIFIED")


@pytest.mark.parametrize(
    ("offset", "result"),
    [
        pytest.param(-60, "INVALID", id="two-steps-behind"),
        pytest.param(-30, "VERIFIED", id="one-step-behind"),
        pytest.param(30, "VERIFIED", id="one-step-ahead"),
        pytest.param(60, "INVALID", id="two-steps-ahead"),
    ],
)
def test_one_step_of_drift_either_way(
    backend: SandboxBackend, ids: tuple[str, str], offset: float, result: str
) -> None:
    app = _app(backend, ids)
    backend.advance(15)  # mid-step, so the offsets land squarely in their steps
    assert _verify(backend, ids, app(offset), method="totp") == result


def test_replayed_or_earlier_step_is_refused_and_counted(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    app = _app(backend, ids)
    assert _verify(backend, ids, app(30), method="totp") == "VERIFIED"  # next step, accepted
    assert _verify(backend, ids, app(), method="totp") == "INVALID"  # earlier than accepted
    for _ in range(4):
        assert _verify(backend, ids, app(30), method="totp") == "INVALID"  # replay
    assert _verify(backend, ids, app(30), method="totp") == "THROTTLED"  # 5 counted


def test_five_wrong_codes_throttle_totp_for_five_minutes(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    app = _app(backend, ids)
    for _ in range(5):
        assert _verify(backend, ids, _wrong(app()), method="totp") == "INVALID"
    assert _verify(backend, ids, app(), method="totp") == "THROTTLED"
    backend.advance(299)
    assert _verify(backend, ids, app(), method="totp") == "THROTTLED"
    backend.advance(1)
    assert _verify(backend, ids, app(), method="totp") == "VERIFIED"


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(
            lambda c: c.translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"}),
            id="fullwidth-digits",
        ),
        pytest.param(lambda c: f" {c}", id="leading-space"),
        pytest.param(lambda c: c[1:], id="five-digits"),
        pytest.param(lambda c: c + "0", id="seven-digits"),
    ],
)
def test_only_six_ascii_digits_can_match(
    backend: SandboxBackend, ids: tuple[str, str], shape: Callable[[str], str]
) -> None:
    app = _app(backend, ids)
    assert _verify(backend, ids, shape(app()), method="totp") == "INVALID"


def test_totp_for_a_user_without_an_app_is_invalid_and_not_counted(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    for _ in range(15):
        assert _verify(backend, ids, "123456", method="totp") == "INVALID"
    assert backend.start_auth(ACCOUNT, *ids, "sms").method == "sms"  # not locked


def test_reenrolling_replaces_the_secret_and_forgets_the_last_step(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    old = _app(backend, ids)
    assert _verify(backend, ids, old(), method="totp") == "VERIFIED"
    new = _app(backend, ids)
    assert old() != new()
    assert _verify(backend, ids, new(), method="totp") == "VERIFIED"  # same step, new app


def test_totp_code_is_what_the_app_shows_with_seconds_left(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    app = _app(backend, ids)
    assert backend.totp_code(ACCOUNT, *ids) == (app(), 30)
    backend.advance(10.5)
    assert backend.totp_code(ACCOUNT, *ids) == (app(), 20)


def test_totp_code_without_an_app_is_not_found(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    with pytest.raises(NotFound):
        backend.totp_code(ACCOUNT, *ids)


# -- which authentication a verify call checks -------------------------------------------------


def test_without_method_the_latest_pending_sms_is_checked(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    _app(backend, ids)
    _sms(backend, ids)
    _, latest_pin = _sms(backend, ids)
    check = backend.verify(ACCOUNT, *ids, latest_pin)
    assert (check.method, check.result) == ("sms", "VERIFIED")


def test_without_method_and_no_pending_sms_totp_is_checked(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    app = _app(backend, ids)
    auth_id, pin = _sms(backend, ids)
    _verify(backend, ids, pin, auth_id=auth_id)  # spent: no longer pending
    check = backend.verify(ACCOUNT, *ids, app())
    assert (check.method, check.result) == ("totp", "VERIFIED")


def test_without_method_an_older_pending_sms_is_found_past_a_spent_one(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    _, older_pin = _sms(backend, ids)
    newer, newer_pin = _sms(backend, ids)
    _verify(backend, ids, newer_pin, auth_id=newer)
    assert _verify(backend, ids, older_pin, method="sms") == "EXPIRED"  # sms: the newest
    check = backend.verify(ACCOUNT, *ids, older_pin)  # no method: the newest *pending*
    assert (check.method, check.result) == ("sms", "VERIFIED")


def test_sms_without_auth_id_checks_the_most_recent_sms(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    _, first_pin = _sms(backend, ids)
    _, latest_pin = _sms(backend, ids)
    assert first_pin != latest_pin  # seed 7 makes them differ
    assert _verify(backend, ids, first_pin, method="sms") == "INVALID"
    assert _verify(backend, ids, latest_pin, method="sms") == "VERIFIED"


def test_sms_for_a_user_with_no_sms_is_not_found(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    with pytest.raises(NotFound):
        backend.verify(ACCOUNT, *ids, "123456", method="sms")


def test_auth_id_of_another_user_is_not_found(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    other = backend.create_user(ACCOUNT, ids[0], "other", PHONE)
    auth_id, pin = _sms(backend, (ids[0], other.id))
    with pytest.raises(NotFound):
        backend.verify(ACCOUNT, *ids, pin, method="sms", auth_id=auth_id)
    with pytest.raises(NotFound):
        backend.verify(ACCOUNT, *ids, pin, auth_id="no-such-auth")


def test_totp_method_ignores_auth_id(backend: SandboxBackend, ids: tuple[str, str]) -> None:
    app = _app(backend, ids)
    check = backend.verify(ACCOUNT, *ids, app(), method="totp", auth_id="whatever")
    assert (check.method, check.result) == ("totp", "VERIFIED")


def test_verify_with_unknown_method_is_invalid(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    with pytest.raises(InvalidData):
        backend.verify(ACCOUNT, *ids, "123456", method="email")


# -- outbox and concurrency --------------------------------------------------------------------


def test_outbox_holds_only_the_callers_accounts_messages() -> None:
    backend = SandboxBackend(seed=1, accounts={"a": "a", "b": "b"})
    for account in ("a", "b", "a"):
        service = backend.create_service(account, "d", f"{account}-{len(backend.outbox(account))}")
        user = backend.create_user(account, service.id, "u", PHONE)
        backend.start_auth(account, service.id, user.id, "sms")
    assert len(backend.outbox("a")) == 2 and len(backend.outbox("b")) == 1
    assert backend.outbox("a")[0].sent_at <= backend.outbox("a")[1].sent_at


def test_concurrent_wrong_pins_are_counted_exactly(
    backend: SandboxBackend, ids: tuple[str, str]
) -> None:
    auth_id, pin = _sms(backend, ids)
    results: list[str] = []
    barrier = threading.Barrier(16)

    def guess() -> None:
        barrier.wait()
        results.append(_verify(backend, ids, _wrong(pin), method="sms", auth_id=auth_id))

    threads = [threading.Thread(target=guess) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["INVALID"] * 5 + ["THROTTLED"] * 11


# RFC 6238 Appendix B, SHA-1: the secret is the ASCII "12345678901234567890"; a 6-digit code is
# the last six digits of the RFC's 8-digit value.
RFC_6238_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_6238_CODES = [
    (59, "287082"), (1111111109, "081804"), (1111111111, "050471"),
    (1234567890, "005924"), (2000000000, "279037"), (20000000000, "353130"),
]  # fmt: skip


def test_totp_codes_are_rfc_6238s_published_values_every_time_they_are_read() -> None:
    for _ in range(2):  # the second time from the generator kept for the secret
        for moment, code in RFC_6238_CODES:
            assert _totp.code_at(RFC_6238_SECRET, moment)[0] == code
            assert _totp.matching_step(RFC_6238_SECRET, code, moment) == moment // 30
