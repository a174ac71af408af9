"""The forms driven headlessly, as a person would click them, against the real sandbox."""

from __future__ import annotations

import errno
import os
import time

import ipywidgets as widgets
import pytest

from verigator_nb import analysis
from verigator_nb.errors import NoSuchResourceError
from verigator_nb.log import OutcomeLog
from verigator_nb.models import (
    METHOD_SMS,
    METHOD_TOTP,
    RESULT_EXPIRED,
    RESULT_INVALID,
    RESULT_THROTTLED,
    Verification,
)
from verigator_nb.schema import ACTION, ATTEMPT, INITIATE, METHOD, VERIFIED, VERIFY
from verigator_nb.widgets import LogPanel, VerifyForm
from verigator_nb.widgets._clicks import DOUBLE_CLICK
from verigator_nb.widgets._format import error_text, outcome_text, plain, styled, tone_of

THROTTLED_REASON = "too many wrong PINs: press Initiate for a new one; a locked user waits"


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
    assert form.service_ids == () and form.user_ids == ()
    _create_service_and_user(form)
    assert form.service_ids == (form.service_id,) and form.user_ids == (form.user_id,)
    assert form.username == "john"
    assert "Added user john" in form.setup.status_text
    assert form.setup.fields["phone"].value == "", "the phone number must not stay in the form"


def test_totp_without_app_shows_the_fallback_marker(form) -> None:
    _create_service_and_user(form)
    form.method = METHOD_TOTP
    form.initiate_button.click()
    assert form.initiation.fallback
    assert "fell back to SMS" in form.method_text  # the text the form shows


def test_wrong_pin_then_right_pin_show_red_then_green(sandbox, form, log) -> None:
    _create_service_and_user(form)
    form.method = METHOD_SMS
    form.initiate_button.click()
    pin = _pin_from_sms(form)
    form.pin = "000000" if pin != "000000" else "111111"
    form.verify_button.click()
    assert form.outcome_text == "Not verified: INVALID (wrong PIN)"
    assert form.outcome_tone == "bad"
    assert form.pin == "", "the PIN must be cleared after a verify"
    form.pin = pin
    form.verify_button.click()
    assert form.outcome_text == "Verified" and form.outcome_tone == "ok"
    verifies = log.df[log.df[ACTION] == VERIFY]
    assert verifies[ATTEMPT].tolist() == [1, 2]
    assert verifies[VERIFIED].tolist() == [False, True]


def test_the_tones_are_red_and_green() -> None:
    assert "#cf222e" in styled("x", "bad") and "#1a7f37" in styled("x", "ok")
    assert tone_of(styled("<b>", "bad")) == "bad" and plain(styled("<b>", "ok")) == "<b>"
    assert tone_of("no colour") is None


def test_enter_in_the_pin_box_submits(form) -> None:
    _create_service_and_user(form)
    form.method = METHOD_SMS
    form.initiate_button.click()
    form.submit_pin(_pin_from_sms(form))  # the messages a browser sends for typing and Enter
    assert form.verification is not None and form.verification.verified
    assert form.outcome_text == "Verified" and form.pin == ""


def test_expired_and_throttled_reasons_are_shown(sandbox, form) -> None:
    _create_service_and_user(form)
    form.method = METHOD_SMS
    form.initiate_button.click()
    pin = _pin_from_sms(form)
    for _ in range(5):
        form.pin = "000000" if pin != "000000" else "111111"
        form.verify_button.click()
    form.pin = pin
    form.verify_button.click()
    assert form.outcome_text == f"Not verified: THROTTLED ({THROTTLED_REASON})"
    form.initiate_button.click()
    pin = _pin_from_sms(form)
    sandbox.control().advance(301)
    form.pin = pin
    form.verify_button.click()
    assert form.outcome_text == "Not verified: EXPIRED (PIN expired or already used)"


def test_api_error_is_a_message_not_a_traceback_and_the_form_stays_usable(sandbox, form) -> None:
    _create_service_and_user(form)
    form.initiate_button.click()
    assert form.method_text
    # The user vanishes behind the form's back, through another client.
    sandbox.api().users.delete(form.service_id, form.user_id)
    form.initiate_button.click()
    assert form.message == "john no longer exists (deleted elsewhere): the list is up to date."
    assert form.message_detail.startswith("NoSuchResourceError (HTTP 404, POST ")
    assert "Traceback" not in form.message + form.message_detail
    assert form.user_ids == () and form.user_id is None, "the deleted user leaves the list"
    assert form.method_text == "", "a failed start must not show the previous start's method"
    assert not form.busy and not form.initiate_button.disabled
    form.setup.fields["phone"].value, form.setup.fields["username"].value = "+4401234567", "ann"
    form.setup.add_user_button.click()
    form.initiate_button.click()
    assert form.message == "" and form.initiation is not None


def test_verify_without_a_pin_or_selection_asks_for_it(form, log) -> None:
    form.verify_button.click()
    assert form.message == "Choose a service and a user first."
    _create_service_and_user(form)
    form.verify_button.click()
    assert form.message == "Start a login first: choose the method and press Initiate."
    form.initiate_button.click()
    form.verify_button.click()
    assert form.message == "Type the PIN the user received first."
    assert form.verification is None and form.outcome_text == ""
    assert form.state.message.tone == "warn"
    assert len(log) == 1, "no verify call may be sent without a login and a PIN"


def test_invalid_phone_is_shown_in_the_setup_form(form) -> None:
    _create_service_and_user(form)
    form.setup.fields["phone"].value = "12345"
    form.setup.fields["username"].value = "bad"
    form.setup.add_user_button.click()
    status = form.setup.status_text
    assert (
        status
        == "Type the phone number with its country code, starting with +, e.g. +372 5551 2345."
    )


def test_totp_code_button_plays_the_users_app(form) -> None:
    _create_service_and_user(form)
    form.enrol_button.click()
    form.method = METHOD_TOTP
    form.initiate_button.click()
    assert form.initiation.method == METHOD_TOTP and not form.initiation.fallback
    form.totp_code_button.click()
    form.pin = form.user_side.rsplit(" ", 1)[-1]
    form.verify_button.click()
    assert form.outcome_text == "Verified"


class _InFlight(OutcomeLog):
    """A log whose ``append`` runs ``during`` inside the call, before the call returns."""

    def __init__(self, during) -> None:
        super().__init__()
        self.during = during

    def append(self, row) -> None:
        self.during()
        super().append(row)


def _form_with(sandbox, log: OutcomeLog) -> VerifyForm:
    api = sandbox.api(log=log)
    form = VerifyForm(api, log, control=sandbox.control(api))
    _create_service_and_user(form)
    return form


def test_click_while_a_call_is_in_flight_does_nothing(sandbox) -> None:
    busy: list[bool] = []

    def click_again() -> None:  # a second click on Initiate while the first call runs
        if not busy:
            busy.append(form.busy)
            form.initiate_button.click()

    log = _InFlight(click_again)
    form = _form_with(sandbox, log)
    form.initiate_button.click()
    assert busy == [True]
    assert log.df[ACTION].tolist() == [INITIATE], "the second click must not start again"
    assert not form.busy and form.message == ""


def test_buttons_are_disabled_while_the_call_runs(sandbox) -> None:
    seen: list[bool] = []
    log = _InFlight(lambda: seen.append(all(b.disabled for b in _buttons(form))))
    form = _form_with(sandbox, log)
    form.initiate_button.click()
    assert seen == [True]
    assert not any(button.disabled for button in _buttons(form))


def _buttons(form: VerifyForm) -> list:
    return [
        form.initiate_button,
        form.verify_button,
        form.show_sms_button,
        form.totp_code_button,
        form.enrol_button,
    ]


def test_live_panel_shows_latest_rows_and_rates(form, log) -> None:
    _create_service_and_user(form)
    assert form.panel.rates_text.startswith("0 calls") and form.panel.latest.empty
    form.method = METHOD_TOTP
    form.initiate_button.click()
    form.pin = _pin_from_sms(form)
    form.verify_button.click()
    text = form.panel.rates_text  # refreshed by the clicks alone
    assert text.startswith("2 calls · ")
    labels = analysis.METRIC_LABELS
    assert f"{labels[analysis.ATTEMPT_SUCCESS]} 100.0% (1/1)" in text
    assert f"{labels[analysis.FALLBACK]} 100.0% (1/1)" in text
    assert form.panel.latest[ACTION].tolist() == [INITIATE, VERIFY]
    assert LogPanel(log, rows=1).latest[ACTION].tolist() == [VERIFY], "only the latest rows"


def test_no_pin_or_password_in_widget_state(sandbox, form) -> None:
    _create_service_and_user(form)
    form.method = METHOD_SMS
    form.initiate_button.click()
    pin = sandbox.control().pin_for(form.initiation.auth_id)  # not through the form
    form.pin = pin
    form.verify_button.click()
    assert form.outcome_text == "Verified"
    states = [w.get_state() for w in _all_widgets(form)]
    assert pin not in repr(states)
    assert "sandbox:sandbox" not in repr(states)


def _all_widgets(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _all_widgets(child)


@pytest.mark.parametrize(
    ("result", "text"),
    [
        pytest.param(RESULT_INVALID, "Not verified: INVALID (wrong PIN)", id="invalid"),
        pytest.param(
            RESULT_EXPIRED, "Not verified: EXPIRED (PIN expired or already used)", id="expired"
        ),
        pytest.param(
            RESULT_THROTTLED,
            f"Not verified: THROTTLED ({THROTTLED_REASON})",
            id="throttled",
        ),
        pytest.param(None, "Not verified: UNKNOWN (no reason given)", id="none"),
    ],
)
def test_outcome_text_names_each_reason(result: str | None, text: str) -> None:
    assert outcome_text(Verification(False, METHOD_SMS, result, 200)) == text


def test_error_text_carries_class_status_and_path() -> None:
    text = error_text(NoSuchResourceError("user not found", status=404, method="GET", path="/v1/x"))
    assert text == "NoSuchResourceError (HTTP 404, GET /v1/x): user not found"


def test_no_pin_or_phone_in_widget_state_after_playing_the_user_and_verifying(
    sandbox, form
) -> None:
    _create_service_and_user(form)
    phone = "+37251234567"  # not the phone box's placeholder
    fields = form.setup.fields
    fields["phone"].value, fields["username"].value = phone, "mari"
    form.setup.add_user_button.click()
    assert form.username == "mari"
    assert phone not in repr(_states(form)), "the phone box must be cleared once the user is added"
    form.method = METHOD_SMS
    form.initiate_button.click()
    pin = _pin_from_sms(form)  # the SMS as the form shows it, PIN and all
    (sms,) = sandbox.control().outbox(form.initiation.auth_id)
    form.submit_pin(pin)
    assert form.outcome_text == "Verified"
    states = repr(_states(form))
    assert pin not in states, "the PIN must not stay in any widget once the verify was sent"
    assert phone not in states and sms.to not in states, "the phone number must not stay either"


def test_a_wrong_pin_sent_is_cleared_from_every_widget(sandbox, form) -> None:
    _create_service_and_user(form)
    form.method = METHOD_SMS
    form.initiate_button.click()
    pin = _pin_from_sms(form)
    wrong = "000000" if pin != "000000" else "111111"
    form.submit_pin(wrong)
    assert form.outcome_text.startswith("Not verified: INVALID")
    states = repr(_states(form))
    assert wrong not in states and pin not in states


def _states(form: VerifyForm) -> list[dict]:
    return [w.get_state() for w in _all_widgets(form)]


class _FullDisk:
    """While ``full``, every ``os.write`` to ``path`` fails as on a full disk (ENOSPC).

    Only that file is affected: other writes in the process go through untouched.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, path: os.PathLike[str]) -> None:
        self.full = True
        self.refused = 0
        target = os.stat(path)
        self._file = (target.st_dev, target.st_ino)
        real_write = os.write

        def write(fd: int, data: bytes) -> int:
            if self.full and (os.fstat(fd).st_dev, os.fstat(fd).st_ino) == self._file:
                self.refused += 1
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write)


@pytest.fixture
def durable(tmp_path):
    with OutcomeLog(tmp_path / "outcomes.jsonl") as log:
        yield log


def _durable_form(sandbox, log: OutcomeLog) -> VerifyForm:
    api = sandbox.api()
    form = VerifyForm(api, log, control=sandbox.control(api))
    _create_service_and_user(form)
    form.method = METHOD_SMS
    return form


def _on_disk(log: OutcomeLog) -> list[str]:
    return OutcomeLog.load(log.path).df[ACTION].tolist()


def test_enter_with_a_full_disk_shows_the_outcome_and_that_the_row_was_not_logged(
    sandbox, durable, monkeypatch
) -> None:
    form = _durable_form(sandbox, durable)
    form.initiate_button.click()
    pin = sandbox.control().pin_for(form.initiation.auth_id)
    disk = _FullDisk(monkeypatch, durable.path)
    form.submit_pin(pin)  # Enter in the PIN box: must not raise out of the callback
    assert disk.refused, "the log write must have been attempted and refused"
    assert form.verification is not None and form.verification.verified
    assert form.outcome_text == "Verified", "the server answered: its outcome is shown"
    assert "not written to the outcome log" in form.message
    assert "disk full" in form.message and "Traceback" not in form.message
    assert pin not in form.message and form.pin == ""
    assert not form.busy and not form.verify_button.disabled
    assert _on_disk(durable) == [INITIATE]
    # Space is freed: the same form goes on, logging again.
    disk.full = False
    form.initiate_button.click()
    form.submit_pin(sandbox.control().pin_for(form.initiation.auth_id))
    assert form.message == "" and form.outcome_text == "Verified"
    assert _on_disk(durable) == [INITIATE, INITIATE, VERIFY]


def test_initiate_with_a_full_disk_shows_the_method_and_that_the_row_was_not_logged(
    sandbox, durable, monkeypatch
) -> None:
    form = _durable_form(sandbox, durable)
    disk = _FullDisk(monkeypatch, durable.path)
    form.initiate_button.click()
    assert disk.refused
    assert form.initiation is not None, "the SMS was sent: the form must know its auth_id"
    assert form.method_text == "Server used SMS"
    assert "not written to the outcome log" in form.message and "disk full" in form.message
    disk.full = False
    form.submit_pin(sandbox.control().pin_for(form.initiation.auth_id))
    assert form.outcome_text == "Verified" and form.message == ""
    assert _on_disk(durable) == [VERIFY]
    assert OutcomeLog.load(durable.path).df[METHOD].tolist() == [METHOD_SMS]


def test_a_failed_call_with_a_full_disk_shows_both_the_error_and_the_unlogged_row(
    sandbox, durable, monkeypatch
) -> None:
    form = _durable_form(sandbox, durable)
    sandbox.api().users.delete(form.service_id, form.user_id)
    _FullDisk(monkeypatch, durable.path)
    form.initiate_button.click()
    assert form.message_detail.startswith("NoSuchResourceError (HTTP 404, POST ")
    assert "no longer exists" in form.message
    assert "not written to the outcome log" in form.message
    assert form.initiation is None and form.method_text == ""


def test_the_setup_subform_works_with_a_full_disk(sandbox, durable, monkeypatch) -> None:
    api = sandbox.api()
    form = VerifyForm(api, durable, control=sandbox.control(api))
    _FullDisk(monkeypatch, durable.path)
    _create_service_and_user(form)  # creating services and users writes no log row
    assert "Added user john" in form.setup.status_text
    assert form.user_ids == (form.user_id,) and form.message == ""


def test_a_closed_log_still_shows_the_outcome_and_that_the_row_was_not_logged(
    sandbox, durable
) -> None:
    form = _durable_form(sandbox, durable)
    form.initiate_button.click()
    pin = sandbox.control().pin_for(form.initiation.auth_id)
    durable.close()  # e.g. a notebook cell closed it while the form stayed on screen
    form.submit_pin(pin)
    assert form.outcome_text == "Verified"
    assert "not written to the outcome log" in form.message and "closed" in form.message
    assert not form.message.startswith("Invalid input")


# -- one state, drawn whole (issue: the form tells the truth) ----------------------------------


def _two_users(form: VerifyForm) -> tuple[str, str]:
    """John (no app) and Ann (an app), in one service; returns their ids."""
    _create_service_and_user(form, "john")
    john = form.user_id
    form.setup.fields["phone"].value, form.setup.fields["username"].value = "+4401234568", "ann"
    form.setup.add_user_button.click()
    ann = form.user_id
    form.enrol_button.click()
    return john, ann


def _page_click(button) -> None:
    """What the kernel receives when a person clicks ``button`` in the page."""
    button._handle_button_msg(None, {"event": "click"}, [])


def test_choosing_another_user_drops_the_login_and_everything_shown_for_it(form) -> None:
    john, ann = _two_users(form)
    form.user_id = john
    form.method = METHOD_TOTP
    form.initiate_button.click()  # falls back to SMS: John has no app
    form.show_sms_button.click()
    form.submit_pin("000000")
    assert form.state.login is not None and form.user_side == ""
    assert form.outcome_text.startswith("Not verified")
    form.user_id = ann
    assert form.state.login is None and form.state.user_id == ann
    assert (form.method_text, form.login_text, form.outcome_text, form.user_side) == ("",) * 4
    form.initiate_button.click()
    assert form.method_text == "Server used TOTP" and form.state.login.tries is None
    form.user_id = john  # back to John: Ann's login is not his
    assert form.state.login is None and form.method_text == ""


def test_a_new_start_replaces_the_login_and_the_sms_shown_for_the_old_one(form) -> None:
    _create_service_and_user(form)
    form.method = METHOD_SMS
    form.initiate_button.click()
    first = form.state.login.auth_id
    form.show_sms_button.click()
    assert "verification code" in form.user_side
    form.initiate_button.click()
    assert form.state.login.auth_id != first, "a new auth_id"
    assert form.user_side == "", "the old SMS must not stay on screen: typing it spends a try"
    assert "5 tries left" in form.login_text


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("abcdef", "A PIN is 6 digits, nothing else"),
        ("12345", "A PIN is 6 digits; this has 5."),
        ("1234567", "A PIN is 6 digits; this has 7."),
        ("１２３４５６", "A PIN is 6 digits, nothing else"),  # full-width digits
        ("   ", "Type the PIN the user received first."),
    ],
)
def test_a_pin_that_cannot_be_right_is_refused_without_spending_a_try(
    form, log, typed: str, says: str
) -> None:
    _create_service_and_user(form)
    form.method = METHOD_SMS
    form.initiate_button.click()
    form.submit_pin(typed)
    assert form.message.startswith(says) and form.state.message.tone == "warn"
    assert log.df[ACTION].tolist() == [INITIATE], "nothing may be sent"
    assert form.state.login.tries == 5 and "5 tries left" in form.login_text


def test_the_right_pin_typed_with_spaces_verifies_and_a_long_paste_sends_nothing(
    sandbox, form, log
) -> None:
    _create_service_and_user(form)
    form.method = METHOD_SMS
    form.initiate_button.click()
    pin = sandbox.control().pin_for(form.state.login.auth_id)
    form.submit_pin("9" * 5000)  # more than the box holds: not from the page, ignored
    assert log.df[ACTION].tolist() == [INITIATE]
    form.submit_pin(f"  {pin[:3]} {pin[3:]} ")
    assert form.outcome_text == "Verified"
    assert log.df[ACTION].tolist() == [INITIATE, VERIFY]


def test_a_double_click_in_the_page_starts_one_login_and_verifies_once(sandbox, form, log) -> None:
    _create_service_and_user(form)
    form.method = METHOD_SMS
    _page_click(form.initiate_button)
    _page_click(form.initiate_button)  # queued while the first ran: the same click
    assert log.df[ACTION].tolist() == [INITIATE], "one SMS, one session"
    form.submit_pin("000000" if _pin_of(sandbox, form) != "000000" else "111111")
    form.submit_pin(_pin_of(sandbox, form))  # typed again at once: a new PIN is a new press
    assert log.df[ACTION].tolist() == [INITIATE, VERIFY, VERIFY]
    form.submit_pin("")  # Verify double-clicked: the page emptied the box with the first
    assert log.df[ACTION].tolist() == [INITIATE, VERIFY, VERIFY]
    assert form.outcome_text == "Verified" and form.message == "", "no line beside it"
    time.sleep(DOUBLE_CLICK + 0.05)  # a person's second click, later: a new start
    _page_click(form.initiate_button)
    assert log.df[ACTION].tolist() == [INITIATE, VERIFY, VERIFY, INITIATE]


def test_code_clicks_in_a_row_are_each_taken(form, log) -> None:
    _create_service_and_user(form)
    form.method = METHOD_SMS
    form.initiate_button.click()
    form.initiate_button.click()  # a notebook cell clicking twice means twice
    assert log.df[ACTION].tolist() == [INITIATE, INITIATE]


def test_messages_say_what_happened_and_what_to_do(sandbox, form) -> None:
    _create_service_and_user(form)
    form.submit_pin("123456")
    assert form.message == "Start a login first: choose the method and press Initiate."
    form.totp_code_button.click()
    assert form.message == "This user has no authenticator app: press Enrol app first, or use SMS."
    assert form.message_detail.startswith("NoSuchResourceError (HTTP 404")
    form.method = METHOD_SMS
    for _ in range(2):  # 10 wrong PINs in a row lock the user
        form.initiate_button.click()
        for _ in range(5):
            form.pin = "000000" if _pin_of(sandbox, form) != "000000" else "111111"
            form.verify_button.click()
    form.initiate_button.click()
    assert form.message.startswith("This user is locked after too many wrong PINs in a row.")
    assert "Wait up to 15 minutes" in form.message
    assert "409" in form.message_detail and "409" not in form.message


def test_the_clock_buttons_move_the_sandbox_and_the_countdown_follows(sandbox, form) -> None:
    _create_service_and_user(form)
    form.method = METHOD_SMS
    form.initiate_button.click()
    assert "PIN expires in 5:00" in form.login_text and "5 tries left" in form.login_text
    form.submit_pin("000000" if _pin_of(sandbox, form) != "000000" else "111111")
    assert "4 tries left" in form.login_text
    form.clock_buttons["+30 s"].click()
    assert "PIN expires in 4:30" in form.login_text and "moved on +30 s" in form.user_side
    sandbox.control().advance(60)  # elsewhere: the next tick shows it
    form.tick()
    assert "PIN expires in 3:30" in form.login_text
    form.clock_buttons["+5 min"].click()
    assert "PIN expired" in form.login_text
    form.submit_pin(_pin_of(sandbox, form))
    assert form.outcome_text == "Not verified: EXPIRED (PIN expired or already used)"


def _pin_of(sandbox, form: VerifyForm) -> str:
    return sandbox.control().pin_for(form.state.login.auth_id)


def test_a_user_deleted_elsewhere_leaves_the_list_when_chosen(sandbox, form) -> None:
    john, ann = _two_users(form)
    form.user_id = john  # the list is read: John and Ann
    sandbox.api().users.delete(form.service_id, ann)
    assert form.user_ids == (john, ann), "the form cannot know yet"
    form.user_id = ann  # chosen from the stale list
    assert form.user_ids == (john,) and form.user_id == john
    assert form.message == "That user no longer exists (deleted elsewhere): the list is up to date."


def test_a_phone_number_typed_with_spaces_is_accepted(form) -> None:
    _create_service_and_user(form)
    form.setup.fields["phone"].value, form.setup.fields["username"].value = "+372 5551 2345", "m"
    form.setup.add_user_button.click()
    assert form.setup.status_text == "Added user m" and form.username == "m"


def test_every_label_fits_a_narrow_page(form) -> None:
    # At 1024 px a button wider than its text is cut; rows wrap rather than scroll.
    buttons = [form.initiate_button, form.show_sms_button, form.totp_code_button]
    buttons += [form.enrol_button, *form.clock_buttons.values()]
    assert all(len(button.description) <= 12 for button in buttons)
    rows = [child for child in form.children if isinstance(child, widgets.HBox)]
    assert rows and all(row.layout.flex_flow == "row wrap" for row in rows)


def test_the_log_panel_is_a_table_with_empty_cells_for_missing_values(form, log) -> None:
    _create_service_and_user(form)
    form.initiate_button.click()
    html = form.panel._table.value
    assert "&lt;NA&gt;" not in html and "<NA>" not in html and "NaN" not in html
    assert html.count("<th ") == form.panel.latest.shape[1], "one header per column"
    assert form.panel.rates_text.startswith("1 call · ")


def test_a_totp_code_used_once_already_is_said_to_be_so(sandbox, form) -> None:
    _create_service_and_user(form)
    form.enrol_button.click()
    form.method = METHOD_TOTP
    form.initiate_button.click()
    code = sandbox.control().totp_code(form.service_id, form.user_id)
    form.submit_pin(code)
    assert form.outcome_text == "Verified"
    form.submit_pin(code)  # the same login again: nothing sent
    assert form.message == "This login is verified already: press Initiate to start another."
    form.initiate_button.click()
    form.submit_pin(code)  # a new login, the code already used: refused as a replay
    seconds = 30 - int(sandbox.now().timestamp()) % 30
    assert form.outcome_text == (
        "Not verified: INVALID (wrong code, or one used already: "
        f"the app shows a new one in {seconds} s)"
    )


def test_a_page_double_click_adds_one_user_and_moves_the_clock_once(sandbox, form) -> None:
    _create_service_and_user(form)
    fields = form.setup.fields
    fields["phone"].value, fields["username"].value = "+372 5551 2345", "mari"
    _page_click(form.setup.add_user_button)
    _page_click(form.setup.add_user_button)  # the phone box was emptied by the first
    assert form.setup.status_text == "Added user mari" and len(form.user_ids) == 2
    before = sandbox.now()
    _page_click(form.clock_buttons["+30 s"])
    _page_click(form.clock_buttons["+30 s"])
    _page_click(form.clock_buttons["+5 min"])  # another button: its own action
    assert (sandbox.now() - before).total_seconds() == 330


def test_a_refused_pin_goes_back_into_the_box(form) -> None:
    _create_service_and_user(form)
    form.method = METHOD_SMS
    form.initiate_button.click()
    sent: list[dict] = []
    form.verify_button.send = sent.append  # what goes to the page
    form.submit_pin("12 34 5x")
    assert sent == [{"event": "restore", "value": "12 34 5x"}], "to be corrected, not retyped"


def test_the_server_has_the_last_word_on_tries_and_expiry(sandbox, form) -> None:
    _create_service_and_user(form)
    form.method = METHOD_SMS
    form.initiate_button.click()
    wrong = "000000" if _pin_of(sandbox, form) != "000000" else "111111"
    for _ in range(2):  # wrong PINs sent elsewhere: the form cannot count them
        sandbox.api().auth.verify(form.initiation, wrong)
    for _ in range(4):
        form.submit_pin(wrong)
    assert form.outcome_text.startswith("Not verified: THROTTLED")
    assert "no tries left" in form.login_text, "THROTTLED means none, whatever was counted"
    form.initiate_button.click()
    form.clock_buttons["+5 min"].click()
    form.submit_pin(_pin_of(sandbox, form))
    assert form.login_text.endswith("PIN expired)"), "no tries beside an expired PIN"


def test_a_deleted_service_leaves_the_list_and_a_deleted_user_is_named(sandbox, form) -> None:
    john, ann = _two_users(form)
    form.initiate_button.click()
    sandbox.api().users.delete(form.service_id, ann)
    form.submit_pin("123456")
    assert form.message == "ann no longer exists (deleted elsewhere): the list is up to date."
    assert form.user_ids == (john,) and form.state.login is None
    service = form.service_id
    sandbox.api().users.delete(service, john)
    sandbox.api().services.delete(service)
    form.initiate_button.click()
    assert form.service_ids == () and form.service_id is None
    assert (
        form.message == "That service no longer exists (deleted elsewhere): choose another service."
    )


def test_notebook_02_is_saved_with_the_forms_widget_state() -> None:
    # Reopened without running, JupyterLab draws the saved form instead of "model not found".
    import json
    from pathlib import Path

    path = Path(__file__).parents[1] / "notebooks" / "02_interactive_verification.ipynb"
    notebook = json.loads(path.read_text())
    saved = notebook["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    shown = [
        output["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
    ]
    assert shown and all(model in saved for model in shown)
