"""Security rules, end to end: brute force, replay, isolation, constant time, no secrets shown.

- After 5 wrong PINs every later try on that ``auth_id`` is refused, right or wrong; 10 in a
  row lock the user out of every ``auth_id`` and of starting a new one.
- A TOTP code is accepted once: the same code, or an earlier step's, is refused afterwards.
- Another account's services and users are 403 on every endpoint, ``/sandbox/`` ones too, and
  the answer reveals nothing of them; the outbox never shows another account's SMS.
- Passwords and PINs are compared with ``hmac.compare_digest`` (seen during real requests),
  and an unknown username costs a comparison too.
- No password, PIN or TOTP secret appears in log files, DataFrames, reprs, exception messages,
  widget states or the saved notebooks' outputs (play-the-user output excepted: showing the
  SMS is its job).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pyotp.utils
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verigator_nb import errors
from verigator_nb.client import Api
from verigator_nb.log import OutcomeLog
from verigator_nb.sandbox import Sandbox, SandboxControl
from verigator_nb.widgets import VerifyForm

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def _wrong(pin: str, k: int = 1) -> str:
    return f"{(int(pin) + k) % 1_000_000:06d}"


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[Api, SandboxControl, Sandbox]]:
    with Sandbox(seed=13) as running, running.api() as api:
        yield api, running.control(api), running


def _fresh_user(api: Api, tag: str) -> tuple[str, str]:
    service = api.services.create("www.example.com", f"Shop {tag}")
    return service.id, api.users.create(service.id, "+4401234567", "john").id


# -- brute force ------------------------------------------------------------------------------

_runs = iter(range(10**6))


@given(later=st.lists(st.booleans(), min_size=1, max_size=8))
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_after_five_wrong_pins_every_later_try_on_that_auth_id_is_refused(
    shared: tuple[Api, SandboxControl, Sandbox], later: list[bool]
) -> None:
    api, control, _ = shared
    started = api.auth.initiate(*_fresh_user(api, f"bf{next(_runs)}"), "sms")
    pin = control.pin_for(started.auth_id)
    for k in range(1, 6):
        assert api.auth.verify(started, _wrong(pin, k)).result == "INVALID"
    for right in later:  # True: the right PIN; False: another wrong one
        verified, error = api.auth.verify(started, pin if right else _wrong(pin, 6))
        assert verified is False and error is not None and error["result"] == "THROTTLED"


def test_ten_wrong_tries_lock_the_user_out_of_every_auth_id(
    shared: tuple[Api, SandboxControl, Sandbox],
) -> None:
    api, control, _ = shared
    ids = _fresh_user(api, "lockout")
    first, second = api.auth.initiate(*ids, "sms"), api.auth.initiate(*ids, "sms")
    for k in range(1, 6):
        api.auth.verify(first, _wrong(control.pin_for(first.auth_id), k))
        api.auth.verify(second, _wrong(control.pin_for(second.auth_id), k))
    with pytest.raises(errors.ResourceAlreadyExistsError, match="locked"):
        api.auth.initiate(*ids, "sms")
    # Even a PIN never guessed at, on an auth_id with tries left, is refused while locked.
    third_pin = control.pin_for(second.auth_id)
    assert api.auth.verify(second, third_pin).result == "THROTTLED"


def test_a_totp_code_is_accepted_once_and_never_replayed(
    shared: tuple[Api, SandboxControl, Sandbox],
) -> None:
    api, control, _ = shared
    ids = _fresh_user(api, "totp")
    control.enrol_totp(*ids)
    started = api.auth.initiate(*ids, "totp")
    assert started.method == "totp"
    code = control.totp_code(*ids)
    assert api.auth.verify(started, code).verified
    assert api.auth.verify(started, code).result == "INVALID", "the same code twice"
    control.advance(30)
    newer = control.totp_code(*ids)
    assert api.auth.verify(started, newer).verified
    # The earlier step is still inside the one-step drift window, so only replay refuses it.
    assert api.auth.verify(started, code).result == "INVALID", "an earlier step after a later"


# -- another account's resources ----------------------------------------------------------------


@pytest.fixture
def alice() -> Iterator[tuple[Sandbox, dict[str, str]]]:
    """A sandbox where ``alice`` has a service, a user, an SMS and an app."""
    with Sandbox(seed=17, accounts={"sandbox": "sandbox", "alice": "alice-pw"}) as running:
        api = running.api(username="alice")
        service = api.services.create("alice.example", "AliceShop")
        user = api.users.create(service.id, "+3725550123", "alice@example.com")
        started = api.auth.initiate(service.id, user.id, "sms")
        control = running.control(api)
        secret = control.enrol_totp(service.id, user.id).secret
        pin = control.pin_for(started.auth_id)
        yield (
            running,
            {
                "sid": service.id,
                "uid": user.id,
                "auth_id": str(started.auth_id),
                "name": "AliceShop",
                "fqdn": "alice.example",
                "username": "alice@example.com",
                "phone": "+3725550123",
                "pin": pin,
                "secret": secret,
            },
        )


CROSS_ACCOUNT_CALLS = [
    pytest.param("GET", "/v1/service/service/{sid}", None, id="get-service"),
    pytest.param("DELETE", "/v1/service/service/{sid}", None, id="delete-service"),
    pytest.param("GET", "/v1/service/service/{sid}/users", None, id="list-users"),
    pytest.param(
        "POST",
        "/v1/service/service/{sid}/users",
        {"id_in_service": "mallory", "phone_number": "+4401234567"},
        id="add-user",
    ),
    pytest.param("GET", "/v1/service/service/{sid}/users/{uid}", None, id="get-user"),
    pytest.param("DELETE", "/v1/service/service/{sid}/users/{uid}", None, id="delete-user"),
    pytest.param(
        "POST", "/v1/service/service/{sid}/users/{uid}/auth", {"method": "sms"}, id="start"
    ),
    pytest.param(
        "PUT",
        "/v1/service/service/{sid}/users/{uid}/auth",
        {"method": "sms", "token": "{pin}", "auth_id": "{auth_id}"},
        id="verify-with-the-right-pin",
    ),
    pytest.param("POST", "/sandbox/services/{sid}/users/{uid}/totp", None, id="enrol-app"),
    pytest.param("GET", "/sandbox/services/{sid}/users/{uid}/totp", None, id="read-app-code"),
]


@pytest.mark.parametrize(("method", "template", "body"), CROSS_ACCOUNT_CALLS)
def test_another_accounts_resources_are_403_everywhere_and_reveal_nothing(
    alice: tuple[Sandbox, dict[str, str]], method: str, template: str, body: Any
) -> None:
    sandbox, names = alice
    payload = None if body is None else {k: v.format(**names) for k, v in body.items()}
    response = requests.request(
        method,
        sandbox.url + template.format(**names),
        json=payload,
        headers={"X-Service-Auth": "sandbox:sandbox"},
        timeout=5,
    )
    assert response.status_code == 403
    assert response.json() == {"message": "forbidden: this resource belongs to another account"}
    # Nothing changed for alice: her user and her pending PIN are still there, unspent.
    owner = sandbox.api(username="alice")
    assert [u.id for u in owner.users.get_all(names["sid"])] == [names["uid"]]


def test_another_accounts_sms_never_shows_in_the_outbox(
    alice: tuple[Sandbox, dict[str, str]],
) -> None:
    sandbox, names = alice
    control = sandbox.control()
    assert control.outbox() == [] and control.outbox(names["auth_id"]) == []
    mine = _fresh_user(sandbox.api(), "mine")
    with pytest.raises(errors.NoSuchResourceError) as caught:
        sandbox.api().request(
            "PUT",
            f"/v1/service/service/{mine[0]}/users/{mine[1]}/auth",
            {"method": "sms", "token": names["pin"], "auth_id": names["auth_id"]},
        )
    _assert_reveals_nothing(str(caught.value), names, keep=("auth_id",))


def test_client_errors_for_another_accounts_resources_reveal_nothing(
    alice: tuple[Sandbox, dict[str, str]],
) -> None:
    sandbox, names = alice
    api = sandbox.api()
    for call in (
        lambda: api.services.get(names["sid"]),
        lambda: api.users.get_all(names["sid"]),
        lambda: api.auth.initiate(names["sid"], names["uid"], "sms"),
        lambda: api.auth.verify(names["sid"], names["uid"], names["pin"]),
    ):
        with pytest.raises(errors.ResourceForbiddenError) as caught:
            call()
        # The caller's own path is in the message; nothing the caller did not send is.
        _assert_reveals_nothing(f"{caught.value} {caught.value!r}", names, keep=("sid", "uid"))


def _assert_reveals_nothing(text: str, names: dict[str, str], keep: tuple[str, ...] = ()) -> None:
    for key, value in names.items():
        if key not in keep:
            assert value not in text, f"{key} leaked: {text}"


# -- constant-time comparisons ------------------------------------------------------------------


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every ``compare_digest`` call made while the test runs (the server's threads too)."""
    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    monkeypatch.setattr(pyotp.utils, "compare_digest", recording)  # pyotp imported it by name
    return seen


@pytest.mark.parametrize(
    ("header", "status"),
    [
        pytest.param("sandbox:sandbox", 200, id="right"),
        pytest.param("sandbox:Sandbox", 401, id="wrong-password"),
        pytest.param("nobody:sandbox", 401, id="unknown-username"),
    ],
)
def test_credentials_are_compared_in_constant_time_even_for_unknown_users(
    sandbox: Sandbox, comparisons: list[tuple[bytes, bytes]], header: str, status: int
) -> None:
    response = requests.get(
        sandbox.url + "/sandbox/clock", headers={"X-Service-Auth": header}, timeout=5
    )
    assert response.status_code == status
    [(given_password, expected)] = comparisons
    assert given_password == header.partition(":")[2].encode()
    if header.startswith("nobody"):
        assert expected != b"sandbox", "an unknown user is compared against a decoy"


def test_sms_pins_and_totp_codes_are_compared_in_constant_time(
    sandbox: Sandbox, comparisons: list[tuple[bytes, bytes]]
) -> None:
    api, control = sandbox.api(), sandbox.control()
    ids = _fresh_user(api, "ct")
    started = api.auth.initiate(*ids, "sms")
    pin = control.pin_for(started.auth_id)
    comparisons.clear()
    assert api.auth.verify(started, _wrong(pin)).result == "INVALID"
    assert (_wrong(pin).encode(), pin.encode()) in comparisons
    control.enrol_totp(*ids)
    totp = api.auth.initiate(*ids, "totp")
    code = control.totp_code(*ids)
    comparisons.clear()
    assert api.auth.verify(totp, code).verified
    assert (code.encode(), code.encode()) in comparisons


# -- no secret anywhere it can be seen ----------------------------------------------------------

PASSWORD = "C4rol-pw-5ecret"


def _widgets(root: widgets.Widget) -> Iterator[widgets.Widget]:
    yield root
    for child in getattr(root, "children", ()):
        yield from _widgets(child)


def _haystacks(tmp_path: Path) -> tuple[dict[str, str], set[str]]:
    """Everything a user or a reviewer can see after a full session, and the secrets used."""
    accounts = {"sandbox": "sandbox", "carol": PASSWORD}
    seen: dict[str, str] = {}
    secrets: set[str] = {PASSWORD, f"carol:{PASSWORD}", "sandbox:sandbox", "Wr0ng-guess-pw"}
    with Sandbox(seed=21, accounts=accounts) as sandbox:
        log = OutcomeLog(tmp_path / "outcomes.jsonl")
        api = sandbox.api(username="carol", log=log)
        control = sandbox.control(api)
        service = api.services.create("www.example.com", "CarolShop")
        user = api.users.create(service.id, "+4401234567", "carol.user")
        started = api.auth.initiate(service.id, user.id, "totp")
        pin = control.pin_for(started.auth_id)
        results: list[Any] = [service, user, started, api.auth.verify(started, _wrong(pin))]
        results.append(api.auth.verify(started, pin))
        enrolment = control.enrol_totp(service.id, user.id)
        totp = api.auth.initiate(service.id, user.id, "totp")
        code = control.totp_code(service.id, user.id)
        results += [enrolment, totp, api.auth.verify(totp, code), api.auth.verify(totp, code)]
        secrets |= {pin, enrolment.secret, code}

        failures: list[Exception] = []
        for call in (
            lambda: Api("carol", "Wr0ng-guess-pw", sandbox.url).services.get(service.id),
            lambda: sandbox.api().services.get(service.id),
            lambda: api.users.get(service.id, "nope"),
            lambda: api.request("PUT", f"/v1/service/service/{service.id}/users/{user.id}/auth"),
            lambda: api.users.create(service.id, "12345", "x"),
        ):
            try:
                call()
            except (errors.VerigatorError, ValueError) as exc:
                failures.append(exc)
        assert len(failures) == 5

        form = VerifyForm(api, log, control=control, services=[service])
        form.method = "sms"
        form.initiate_button.click()
        form.show_sms_button.click()
        form_pin = control.pin_for(form.initiation.auth_id if form.initiation else None)
        form.pin = form_pin
        form.verify_button.click()
        assert form.outcome_text == "Verified"
        form.enrol_button.click()
        form.method = "totp"
        form.initiate_button.click()
        form.totp_code_button.click()
        form_code = control.totp_code(service.id, user.id)
        # The control: the play-the-user line does show the code, so the scan can find one...
        assert _found(form_code, form.user_side)
        form.pin = form_code
        form.verify_button.click()
        secrets |= {form_pin, form_code}
        # ...and once the code is sent, no widget holds it any more, that line included.
        seen["widget states"] = json.dumps([w.get_state() for w in _widgets(form)], default=repr)
        seen["reprs"] = " ".join(
            repr(thing)
            for thing in (api, sandbox, control, sandbox.backend, form, *results, *failures)
        )
        seen["errors"] = " ".join(f"{e} {e.args}" for e in failures)
        seen["log file"] = (tmp_path / "outcomes.jsonl").read_text()
        seen["log csv"] = log.df.to_csv()
        seen["reloaded csv"] = OutcomeLog.load(tmp_path / "outcomes.jsonl").df.to_csv()
    return seen, secrets


def _found(secret: str, text: str) -> bool:
    if secret.isdigit():  # a 6-digit code: only as a token of its own, not inside an id
        return re.search(rf"(?<![0-9A-Za-z]){secret}(?![0-9A-Za-z])", text) is not None
    return secret in text


def test_no_password_pin_or_totp_secret_is_shown_anywhere(tmp_path: Path) -> None:
    seen, secrets = _haystacks(tmp_path)
    for where, text in seen.items():
        leaked = sorted(s for s in secrets if _found(s, text))
        assert not leaked, f"{where} shows {leaked}"
    for where in ("log file", "log csv", "reloaded csv"):
        assert "+4401234567" not in seen[where], "the outcome log keeps no phone numbers"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_saved_notebook_outputs_show_no_password_or_totp_secret(notebook: Path) -> None:
    outputs = json.dumps([c.get("outputs", []) for c in json.loads(notebook.read_text())["cells"]])
    assert "sandbox:sandbox" not in outputs
    assert re.search(r"password\W{1,4}(?!\*\*\*)\w", outputs) is None, "a password in clear"
    assert re.search(r"(?<![A-Z2-7])[A-Z2-7]{32}(?![A-Z2-7])", outputs) is None, "a TOTP secret"
    assert "secret=" not in outputs, "an otpauth URI with its secret"
