"""The forms driven headlessly, as a person would click them, against the real sandbox."""

from __future__ import annotations

import pytest

from verigator_nb.errors import NoSuchResourceError
from verigator_nb.log import OutcomeLog
from verigator_nb.models import Verification
from verigator_nb.widgets import VerifyForm
from verigator_nb.widgets._format import error_text, outcome_text


@pytest.fixture
def log():
    return OutcomeLog()


@pytest.fixture
def form(sandbox, log):
    api = sandbox.api()
    return VerifyForm(api, log, control=sandbox.control(api))


def _create_service_and_user(form: VerifyForm, username: str = "john") -> None:
    fields = form.setup.fields
    fields["domain"].value, fields["name"].value = "www.example.com", "CoffeeShop"
    form.setup.create_service_button.click()
    fields["phone"].value, fields["username"].value = "+4401234567", username
    form.setup.add_user_button.click()


def _pin_from_sms(form: VerifyForm) -> str:
    form.show_sms_button.click()
    return form.user_side.rsplit(": ", 1)[-1][:6]


def test_setup_subform_fills_the_dropdowns(form) -> None:
    _create_service_and_user(form)
    assert form.service_id and form.user_id
    assert form._user.label == "john"
    assert "Added user john" in form.setup.status_text
    assert form.setup.fields["phone"].value == "", "the phone number must not stay in the form"


def test_totp_without_app_shows_the_fallback_marker(form) -> None:
    _create_service_and_user(form)
    form.method = "totp"
    form.initiate_button.click()
    assert form.initiation.fallback
    assert "fell back to SMS" in form.method_text
    assert "fell back to SMS" in form._method_used.value


def test_wrong_pin_then_right_pin_show_red_then_green(sandbox, form, log) -> None:
    _create_service_and_user(form)
    form.method = "sms"
    form.initiate_button.click()
    pin = _pin_from_sms(form)
    form.pin = "000000" if pin != "000000" else "111111"
    form.verify_button.click()
    assert form.outcome_text == "Not verified: INVALID (wrong PIN)"
    assert "#cf222e" in form._outcome.value
    assert form.pin == "", "the PIN must be cleared after a verify"
    form.pin = pin
    form.submit_pin()  # what Enter in the PIN box does
    assert form.outcome_text == "Verified" and "#1a7f37" in form._outcome.value
    verifies = log.df[log.df["action"] == "verify"]
    assert verifies["attempt"].tolist() == [1, 2]
    assert verifies["verified"].tolist() == [False, True]


def test_enter_in_the_pin_box_submits(form) -> None:
    _create_service_and_user(form)
    form.method = "sms"
    form.initiate_button.click()
    form.pin = _pin_from_sms(form)
    form._pin._handle_string_msg(None, {"event": "submit"}, None)  # the front end's Enter
    assert form.verification is not None and form.verification.verified


def test_expired_and_throttled_reasons_are_shown(sandbox, form) -> None:
    _create_service_and_user(form)
    form.method = "sms"
    form.initiate_button.click()
    pin = _pin_from_sms(form)
    for _ in range(5):
        form.pin = "000000" if pin != "000000" else "111111"
        form.verify_button.click()
    form.pin = pin
    form.verify_button.click()
    assert form.outcome_text == "Not verified: THROTTLED (too many wrong attempts, try later)"
    form.initiate_button.click()
    pin = _pin_from_sms(form)
    sandbox.control().advance(301)
    form.pin = pin
    form.verify_button.click()
    assert form.outcome_text.startswith("Not verified: EXPIRED")


def test_api_error_is_a_message_not_a_traceback_and_the_form_stays_usable(form) -> None:
    _create_service_and_user(form)
    api = form._api
    api.users.delete(form.service_id, form.user_id)  # the user vanishes behind the form's back
    form.initiate_button.click()
    assert "NoSuchResourceError" in form.message and "404" in form.message
    assert not form.busy and not form.initiate_button.disabled
    form.setup.fields["phone"].value, form.setup.fields["username"].value = "+4401234567", "ann"
    form.setup.add_user_button.click()
    form.initiate_button.click()
    assert form.message == "" and form.initiation is not None


def test_verify_without_a_pin_or_selection_asks_for_it(form) -> None:
    form.verify_button.click()
    assert "choose a service and a user" in form.message
    _create_service_and_user(form)
    form.verify_button.click()
    assert "type the PIN" in form.message


def test_invalid_phone_is_shown_in_the_setup_form(form) -> None:
    _create_service_and_user(form)
    form.setup.fields["phone"].value = "12345"
    form.setup.fields["username"].value = "bad"
    form.setup.add_user_button.click()
    assert "Invalid input" in form.setup.status_text and "number" in form.setup.status_text


def test_totp_code_button_plays_the_users_app(form) -> None:
    _create_service_and_user(form)
    form.enrol_button.click()
    form.method = "totp"
    form.initiate_button.click()
    assert form.initiation.method == "totp" and not form.initiation.fallback
    form.totp_code_button.click()
    form.pin = form.user_side.rsplit(" ", 1)[-1]
    form.verify_button.click()
    assert form.outcome_text == "Verified"


def test_click_while_a_call_is_in_flight_does_nothing(form) -> None:
    _create_service_and_user(form)
    form._busy = True
    form.initiate_button.click()
    assert form.initiation is None


def test_buttons_are_disabled_while_the_call_runs(sandbox, log) -> None:
    api = sandbox.api()
    seen: list[bool] = []

    class Spy(OutcomeLog):
        def append(self, row):  # runs inside the call, before it returns
            seen.append(form.initiate_button.disabled and form.verify_button.disabled)
            super().append(row)

    spy = Spy()
    form = VerifyForm(api.with_log(spy), spy, control=sandbox.control(api))
    _create_service_and_user(form)
    form.initiate_button.click()
    assert seen == [True] and not form.initiate_button.disabled


def test_live_panel_shows_latest_rows_and_rates(form, log) -> None:
    _create_service_and_user(form)
    form.method = "totp"
    form.initiate_button.click()
    form.pin = _pin_from_sms(form)
    form.verify_button.click()
    text = form.panel.rates_text
    assert "2 calls" in text
    assert "attempt success 100.0% (1/1)" in text
    assert "fallback 100.0% (1/1)" in text
    assert "initiate" in form.panel._table.value and "verify" in form.panel._table.value


def test_no_pin_or_password_in_widget_state(sandbox, form) -> None:
    _create_service_and_user(form)
    form.method = "sms"
    form.initiate_button.click()
    pin = sandbox.control().pin_for(form.initiation.auth_id)
    form.pin = pin
    form.verify_button.click()
    states = [w.get_state() for w in _all_widgets(form) if w is not form._user_side]
    assert pin not in repr(states)
    assert "sandbox:sandbox" not in repr(states)


def _all_widgets(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _all_widgets(child)


def test_outcome_text_names_each_reason() -> None:
    for result, reason in [
        ("INVALID", "wrong PIN"),
        ("EXPIRED", "expired"),
        ("THROTTLED", "too many"),
    ]:
        assert reason in outcome_text(Verification(False, "sms", result, 200))


def test_error_text_carries_class_status_and_path() -> None:
    text = error_text(NoSuchResourceError("user not found", status=404, method="GET", path="/v1/x"))
    assert text == "NoSuchResourceError (HTTP 404, GET /v1/x): user not found"
