"""Starting and verifying authentication through the client, against the real sandbox."""

from __future__ import annotations

import pyotp
import pytest

from verigator_nb import errors
from verigator_nb.client._auth import Auth
from verigator_nb.client._recorder import Recorder, utc_now
from verigator_nb.log import OutcomeLog


@pytest.fixture
def api(sandbox):
    with sandbox.api() as client:
        yield client


@pytest.fixture
def control(sandbox, api):
    return sandbox.control(api)


@pytest.fixture
def ids(api):
    """(service_id, user_id) of a fresh user with no authenticator app."""
    service = api.services.create("www.example.com", "CoffeeShop")
    user = api.users.create(service.id, "+4401234567", "john.doe@example.com")
    return service.id, user.id


def _wrong(pin: str) -> str:
    return f"{(int(pin) + 1) % 1_000_000:06d}"


def test_totp_without_an_app_falls_back_to_sms(api, control, ids) -> None:
    started = api.auth.initiate(*ids, api.auth.METHOD_TOTP)
    assert (started.requested_method, started.method, started.fallback) == ("totp", "sms", True)
    assert started.auth_id
    [message] = control.outbox()
    assert message.auth_id == started.auth_id and message.to == "+4401234567"
    assert len(message.pin) == 6 and message.pin.isdigit()


def test_sms_wrong_pin_then_right_pin(api, control, ids) -> None:
    started = api.auth.initiate(*ids, api.auth.METHOD_SMS)
    pin = control.pin_for(started.auth_id)
    verified, error = api.auth.verify(started, _wrong(pin))
    assert verified is False and error["result"] == "INVALID"
    verified, error = api.auth.verify(started, pin)
    assert (verified, error) == (True, None)


def test_seed_line_with_plain_ids_answers_the_latest_initiate(api, control, ids) -> None:
    api.auth.initiate(*ids, api.auth.METHOD_SMS)
    latest = api.auth.initiate(*ids, api.auth.METHOD_SMS)
    verified, error = api.auth.verify(*ids, control.pin_for(latest.auth_id))
    assert verified is True and error is None


def test_spent_auth_id_is_expired_on_a_second_check(api, control, ids) -> None:
    started = api.auth.initiate(*ids, "sms")
    pin = control.pin_for(started.auth_id)
    assert api.auth.verify(started, pin).verified
    again = api.auth.verify(started, pin)
    assert (again.verified, again.result) == (False, "EXPIRED")


def test_sms_pin_expires_after_five_minutes(api, control, ids) -> None:
    kept = api.auth.initiate(*ids, "sms")
    started = api.auth.initiate(*ids, "sms")
    control.advance(299)
    assert api.auth.verify(kept, control.pin_for(kept.auth_id)).verified  # 299 s: still good
    fresh = api.auth.initiate(*ids, "sms")
    control.advance(1)
    late = api.auth.verify(started, control.pin_for(started.auth_id))
    assert (late.verified, late.result, late.error["expired"]) == (False, "EXPIRED", True)
    assert api.auth.verify(fresh, control.pin_for(fresh.auth_id)).verified


def test_five_wrong_pins_throttle_the_auth_id_even_for_the_right_pin(api, control, ids) -> None:
    started = api.auth.initiate(*ids, "sms")
    pin = control.pin_for(started.auth_id)
    results = [api.auth.verify(started, _wrong(pin)).result for _ in range(5)]
    assert results == ["INVALID"] * 5
    refused = api.auth.verify(started, pin)
    assert (refused.verified, refused.result, refused.error["throttled"]) == (
        False,
        "THROTTLED",
        True,
    )
    fresh = api.auth.initiate(*ids, "sms")
    assert api.auth.verify(fresh, control.pin_for(fresh.auth_id)).verified


def test_ten_wrong_tries_across_auth_ids_lock_the_user_for_fifteen_minutes(
    api, control, ids
) -> None:
    for _ in range(2):
        started = api.auth.initiate(*ids, "sms")
        for _ in range(5):
            api.auth.verify(started, _wrong(control.pin_for(started.auth_id)))
    with pytest.raises(errors.ResourceAlreadyExistsError):
        api.auth.initiate(*ids, "sms")  # locked: a new start must not reset the count
    control.advance(15 * 60 - 1)
    with pytest.raises(errors.ResourceAlreadyExistsError):
        api.auth.initiate(*ids, "sms")  # still locked a second before the fifteen minutes
    control.advance(1)
    started = api.auth.initiate(*ids, "sms")
    assert api.auth.verify(started, control.pin_for(started.auth_id)).verified


def test_success_resets_the_users_wrong_try_count(api, control, ids) -> None:
    for _ in range(3):
        started = api.auth.initiate(*ids, "sms")
        pin = control.pin_for(started.auth_id)
        for _ in range(4):
            api.auth.verify(started, _wrong(pin))
        assert api.auth.verify(started, pin).verified  # 12 wrong in all, never 10 in a row


def test_unknown_auth_id_is_not_found(api, ids) -> None:
    body = {"method": "sms", "token": "123456", "auth_id": "no-such-auth"}
    with pytest.raises(errors.NoSuchResourceError) as caught:
        api.request("PUT", f"/v1/service/service/{ids[0]}/users/{ids[1]}/auth", body)
    assert caught.value.status == 404


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"method": "sms"}, id="missing-token"),
        pytest.param({"method": "sms", "token": 123456}, id="number-token"),
        pytest.param({"method": "email", "token": "1"}, id="unknown-method"),
        pytest.param(["token"], id="not-an-object"),
    ],
)
def test_malformed_verify_body_is_invalid_data(api, ids, body) -> None:
    with pytest.raises(errors.InvalidDataError):
        api.request("PUT", f"/v1/service/service/{ids[0]}/users/{ids[1]}/auth", body)


def test_initiate_for_unknown_user_is_not_found(api, ids) -> None:
    with pytest.raises(errors.NoSuchResourceError):
        api.auth.initiate(ids[0], "no-such-user", "sms")


def test_totp_with_an_app_uses_totp_and_accepts_the_current_code(api, control, ids) -> None:
    enrolment = control.enrol_totp(*ids)
    started = api.auth.initiate(*ids, api.auth.METHOD_TOTP)
    assert (started.method, started.auth_id, started.fallback) == ("totp", None, False)
    code = pyotp.TOTP(enrolment.secret).at(control.now())
    assert code == control.totp_code(*ids)
    assert api.auth.verify(started, code).verified


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        pytest.param(-60, False, id="two-steps-behind"),
        pytest.param(-30, True, id="one-step-behind"),
        pytest.param(30, True, id="one-step-ahead"),
        pytest.param(60, False, id="two-steps-ahead"),
    ],
)
def test_totp_accepts_one_step_of_drift_either_way(api, control, ids, offset, accepted) -> None:
    secret = control.enrol_totp(*ids).secret
    control.advance(3600)  # away from the epoch edge so -60 s is a real earlier step
    started = api.auth.initiate(*ids, "totp")
    code = pyotp.TOTP(secret).at(control.now().timestamp() + offset)
    assert api.auth.verify(started, code).verified is accepted


def test_totp_code_cannot_be_replayed(api, control, ids) -> None:
    secret = control.enrol_totp(*ids).secret
    started = api.auth.initiate(*ids, "totp")
    now = control.now().timestamp()
    assert api.auth.verify(started, pyotp.TOTP(secret).at(now)).verified
    replay = api.auth.verify(started, pyotp.TOTP(secret).at(now))
    earlier = api.auth.verify(started, pyotp.TOTP(secret).at(now - 30))
    assert (replay.result, earlier.result) == ("INVALID", "INVALID")
    control.advance(30)
    assert api.auth.verify(started, pyotp.TOTP(secret).at(now + 30)).verified


def test_five_wrong_totp_codes_throttle_totp_for_five_minutes(api, control, ids) -> None:
    secret = control.enrol_totp(*ids).secret
    started = api.auth.initiate(*ids, "totp")
    right = pyotp.TOTP(secret).at(control.now())
    for _ in range(5):
        assert api.auth.verify(started, _wrong(right)).result == "INVALID"
    assert api.auth.verify(started, right).result == "THROTTLED"
    control.advance(299)
    assert api.auth.verify(started, pyotp.TOTP(secret).at(control.now())).result == "THROTTLED"
    control.advance(1)
    assert api.auth.verify(started, pyotp.TOTP(secret).at(control.now())).verified


def test_totp_check_for_a_user_without_an_app_is_invalid(api, ids) -> None:
    outcome = api.auth.verify(*ids, "123456")  # no initiate: the seed line defaults to TOTP
    assert (outcome.verified, outcome.method, outcome.result) == (False, "totp", "INVALID")


def test_outbox_can_be_narrowed_to_one_auth_id(api, control, ids) -> None:
    first = api.auth.initiate(*ids, "sms")
    second = api.auth.initiate(*ids, "sms")
    assert [m.auth_id for m in control.outbox()] == [first.auth_id, second.auth_id]
    assert [m.auth_id for m in control.outbox(second.auth_id)] == [second.auth_id]
    assert control.outbox("no-such-auth") == []


class _ScriptedTransport:
    """A stand-in transport: answers from a script and remembers what was sent."""

    def __init__(self, *answers: tuple[int, object]) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str, object]] = []

    def request(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        self.sent.append((method, path, body))
        return self.answers.pop(0)


def test_auth_works_over_any_transport_it_is_handed() -> None:
    transport = _ScriptedTransport(
        (200, {"method": "sms", "auth_id": "a-1"}),
        (200, {"verified": False, "status": {"result": "INVALID"}}),
    )
    log = OutcomeLog()
    recorder = Recorder(log, clock=utc_now, endpoint="scripted", tags="")
    auth = Auth(transport, recorder)
    started = auth.initiate("s-1", "u-1", "totp")
    verified, error = auth.verify(started, "123456")
    assert started.fallback and not verified and error == {"result": "INVALID"}
    assert transport.sent == [
        ("POST", "/v1/service/service/s-1/users/u-1/auth", {"method": "totp"}),
        (
            "PUT",
            "/v1/service/service/s-1/users/u-1/auth",
            {"method": "sms", "token": "123456", "auth_id": "a-1"},
        ),
    ]
    rows = log.rows
    assert [row["action"] for row in rows] == ["initiate", "verify"]
    assert rows[1]["attempt"] == 1 and rows[1]["result"] == "INVALID"
    assert rows[0]["session_id"] == rows[1]["session_id"]
