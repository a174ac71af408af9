"""``VerifyForm``: choose a service and user, start a login check, type the PIN, see the outcome.

Every call goes through the given ``Api`` (recording to ``log`` when one is given), so the form
and a notebook cell produce the same rows. API and input errors, and a row the log could not
write (a full disk: the outcome is still shown), are a message in the form, never a traceback.
Buttons are off while a call is in flight; no PIN or phone number stays in the widgets (whose
state a notebook saves) once a verify is sent. Tests drive it through ``.value``/``.click()``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import ipywidgets as widgets

from verigator_nb.client import Api
from verigator_nb.errors import VerigatorError
from verigator_nb.log import OutcomeLog
from verigator_nb.models import METHOD_SMS, METHOD_TOTP, Initiation, Service, User, Verification
from verigator_nb.widgets._format import (
    initiation_text,
    message_html,
    outcome_text,
    phone_hint,
    plain,
    styled,
    tone_of,
)
from verigator_nb.widgets._log_guard import LogGuard
from verigator_nb.widgets._log_panel import LogPanel
from verigator_nb.widgets._setup_form import SetupForm

if TYPE_CHECKING:  # only a type here: importing the sandbox would start loading its server
    from verigator_nb.sandbox import SandboxControl

__all__ = ["VerifyForm"]


class VerifyForm(widgets.VBox):
    """An interactive verify form for one ``Api``; ``control`` adds play-the-user buttons.

    ``services`` pre-fills the service dropdown (the API has no "list services" call), and
    services created through the form's setup section are added to it.
    """

    def __init__(
        self,
        api: Api,
        log: OutcomeLog | None = None,
        *,
        control: SandboxControl | None = None,
        services: Iterable[Service] = (),
    ) -> None:
        sink = log if log is not None else api.log
        # Rows go through a guard, so a failed write is shown with the outcome, not raised.
        self._guard = LogGuard(sink) if sink is not None else None
        self._api = api if self._guard is None else api.with_log(self._guard)
        self._control = control
        self._initiation: Initiation | None = None
        self._verification: Verification | None = None
        self._busy = False
        self._build(log)
        for service in services:
            self._add_service(service)

    # -- what a test or a notebook reads and sets ------------------------------------------

    @property
    def service_id(self) -> str | None:
        """The selected service's id."""
        return self._service.value

    @service_id.setter
    def service_id(self, value: str | None) -> None:
        self._service.value = value

    @property
    def user_id(self) -> str | None:
        """The selected user's id."""
        return self._user.value

    @user_id.setter
    def user_id(self, value: str | None) -> None:
        self._user.value = value

    @property
    def username(self) -> str | None:
        """The selected user's name, as the user dropdown shows it."""
        return self._user.label

    @property
    def service_ids(self) -> tuple[str, ...]:
        """The ids the service dropdown offers, in order."""
        return tuple(service_id for _, service_id in self._service.options)

    @property
    def user_ids(self) -> tuple[str, ...]:
        """The ids the user dropdown offers (the selected service's users), in order."""
        return tuple(user_id for _, user_id in self._user.options)

    @property
    def method(self) -> str:
        """The method to request: ``"totp"`` or ``"sms"``."""
        return str(self._method.value)

    @method.setter
    def method(self, value: str) -> None:
        self._method.value = value

    @property
    def pin(self) -> str:
        """The PIN typed so far (cleared after every verify, so no PIN stays in the form)."""
        return str(self._pin.value)

    @pin.setter
    def pin(self, value: str) -> None:
        self._pin.value = value

    @property
    def initiation(self) -> Initiation | None:
        """The latest started authentication."""
        return self._initiation

    @property
    def verification(self) -> Verification | None:
        """The latest verify outcome."""
        return self._verification

    @property
    def method_text(self) -> str:
        """The method line as shown: what the server used for the latest start, with the
        fallback marker; empty until a start succeeds and while the latest start failed."""
        return plain(self._method_used.value)

    @property
    def outcome_text(self) -> str:
        """The outcome line as shown: ``Verified`` or ``Not verified: RESULT (reason)``;
        empty until a verify succeeds, after a new start and while the latest verify failed."""
        return plain(self._outcome.value)

    @property
    def outcome_tone(self) -> str | None:
        """How the outcome line is coloured: ``"ok"`` (green), ``"bad"`` (red), or ``None``."""
        return tone_of(self._outcome.value)

    @property
    def message(self) -> str:
        """The latest error or hint as text, empty when the last call went well."""
        return plain(self._message.value)

    @property
    def user_side(self) -> str:
        """What the latest play-the-user click showed, as text (sandbox only); empty while
        its call failed."""
        return plain(self._user_side.value)

    @property
    def busy(self) -> bool:
        """True while a call is in flight."""
        return self._busy

    @property
    def initiate_button(self) -> widgets.Button:
        """Starts a login check with the chosen method."""
        return self._initiate

    @property
    def verify_button(self) -> widgets.Button:
        """Verifies the typed PIN."""
        return self._verify

    @property
    def show_sms_button(self) -> widgets.Button | None:
        """Sandbox only: shows the SMS the user received."""
        return self._show_sms

    @property
    def totp_code_button(self) -> widgets.Button | None:
        """Sandbox only: shows the code the user's authenticator app shows now."""
        return self._totp_code

    @property
    def enrol_button(self) -> widgets.Button | None:
        """Sandbox only: sets up an authenticator app for the user."""
        return self._enrol

    @property
    def setup(self) -> SetupForm:
        """The create-a-service / add-a-user subform."""
        return self._setup

    @property
    def panel(self) -> LogPanel | None:
        """The live log panel, when the form was given a log."""
        return self._panel

    def __repr__(self) -> str:
        service, user = self._service.label, self.username
        return f"VerifyForm(service={service!r}, user={user!r}, method={self.method!r})"

    def submit_pin(self, text: str) -> None:
        """Type ``text`` into the PIN box and press Enter, as a person in the browser would."""
        self._pin.value = text
        # ipywidgets has no public way to receive a front-end message: this is where the
        # kernel's comm delivers the browser's "submit" event, so the PIN box's own wiring runs.
        self._pin._handle_custom_msg({"event": "submit"}, [])

    # -- layout ----------------------------------------------------------------------------

    def _build(self, log: OutcomeLog | None) -> None:
        self._service = widgets.Dropdown(description="Service", options=[], value=None)
        self._user = widgets.Dropdown(description="User", options=[], value=None)
        self._method = widgets.ToggleButtons(
            options=[("TOTP app", METHOD_TOTP), ("SMS", METHOD_SMS)], description="Method"
        )
        self._initiate = widgets.Button(description="Initiate", button_style="primary")
        self._method_used = widgets.HTML()
        self._pin = widgets.Text(description="PIN", placeholder="6 digits, Enter submits")
        self._verify = widgets.Button(description="Verify", button_style="success")
        self._outcome = widgets.HTML()
        self._message = widgets.HTML()
        self._user_side = widgets.HTML()
        self._setup = SetupForm(
            self._api,
            service_id=lambda: self.service_id,
            on_service=self._add_service,
            on_user=self._add_user,
        )
        self._panel = LogPanel(log) if log is not None else None
        self._wire()
        setup = widgets.Accordion([self._setup], titles=("Create a service or add a user",))
        setup.selected_index = None
        rows: list[widgets.Widget] = [
            widgets.HBox([self._service, self._user]),
            setup,
            widgets.HBox([self._method, self._initiate]),
            self._method_used,
            widgets.HBox([self._pin, self._verify]),
            self._outcome,
            self._message,
        ]
        rows += self._sandbox_row()
        super().__init__(rows + ([self._panel] if self._panel else []))

    def _sandbox_row(self) -> list[widgets.Widget]:
        self._show_sms = self._totp_code = self._enrol = None
        if self._control is None:
            return []
        wide = widgets.Layout(width="auto")
        self._show_sms = widgets.Button(
            description="Show the SMS the user got", icon="envelope", layout=wide
        )
        self._totp_code = widgets.Button(description="Current TOTP code", icon="clock", layout=wide)
        self._enrol = widgets.Button(
            description="Enrol authenticator app", icon="mobile", layout=wide
        )
        self._show_sms.on_click(self._on_show_sms_click)
        self._totp_code.on_click(self._on_totp_code_click)
        self._enrol.on_click(self._on_enrol_click)
        label = widgets.HTML("<i>Sandbox — play the user:</i>")
        return [
            widgets.HBox([label, self._show_sms, self._totp_code, self._enrol]),
            self._user_side,
        ]

    def _wire(self) -> None:
        self._service.observe(self._on_service_change, names="value")
        self._initiate.on_click(self._on_initiate_click)
        self._verify.on_click(self._on_verify_click)
        with warnings.catch_warnings():
            # Deprecated in ipywidgets 8 but still the only event that means "Enter":
            # observing value with continuous_update=False would also submit on blur,
            # and a verify spends one of the user's attempts.
            warnings.simplefilter("ignore", DeprecationWarning)
            self._pin.on_submit(self._on_pin_submit)

    # -- handlers: each runs one call and clears the line that shows its result ------------

    def _on_service_change(self, change: dict[str, object]) -> None:
        self._user.options, self._user.value = [], None
        if change["new"]:
            self._run(self._load_users)

    def _on_initiate_click(self, _: widgets.Button) -> None:
        # A new start makes the SMS or code shown for the last one stale: it goes too.
        self._run(self._do_initiate, shows=(self._method_used, self._outcome, self._user_side))

    def _on_verify_click(self, _: widgets.Button) -> None:
        self._run(self._do_verify, shows=(self._outcome,))

    def _on_pin_submit(self, _: widgets.Text) -> None:
        self._run(self._do_verify, shows=(self._outcome,))

    def _on_show_sms_click(self, _: widgets.Button) -> None:
        self._run(self._do_show_sms, shows=(self._user_side,))

    def _on_totp_code_click(self, _: widgets.Button) -> None:
        self._run(self._do_totp_code, shows=(self._user_side,))

    def _on_enrol_click(self, _: widgets.Button) -> None:
        self._run(self._do_enrol, shows=(self._user_side,))

    # -- the calls -------------------------------------------------------------------------

    def _load_users(self) -> None:
        users = self._api.users.get_all(str(self.service_id))
        self._user.options = [(user.username, user.id) for user in users]
        self._user.value = users[0].id if users else None

    def _do_initiate(self) -> None:
        service_id, user_id = self._require_selection()
        self._initiation = self._api.auth.initiate(service_id, user_id, self.method)
        self._verification = None
        tone = "warn" if self._initiation.fallback else "info"
        self._method_used.value = styled(initiation_text(self._initiation), tone)

    def _do_verify(self) -> None:
        service_id, user_id = self._require_selection()
        pin, self._pin.value = self._pin.value, ""
        if not pin:
            raise ValueError("type the PIN the user received first")
        self._user_side.value = ""  # the SMS or code shown there is spent by this verify
        initiation = self._initiation
        if initiation and (initiation.service_id, initiation.user_id) == (service_id, user_id):
            self._verification = self._api.auth.verify(initiation, pin)
        else:
            self._verification = self._api.auth.verify(service_id, user_id, pin)
        tone = "ok" if self._verification.verified else "bad"
        self._outcome.value = styled(outcome_text(self._verification), tone)

    def _do_show_sms(self) -> None:
        assert self._control is not None
        auth_id = self._initiation.auth_id if self._initiation else None
        messages = [m for m in self._control.outbox() if auth_id and m.auth_id == auth_id]
        if not messages:
            raise ValueError("no SMS for the latest start: initiate with SMS (or TOTP fallback)")
        message = messages[-1]
        self._user_side.value = styled(f"SMS to {phone_hint(message.to)}: “{message.text}”", "info")

    def _do_totp_code(self) -> None:
        assert self._control is not None
        code = self._control.totp_code(*self._require_selection())
        self._user_side.value = styled(f"Authenticator app shows {code}", "info")

    def _do_enrol(self) -> None:
        assert self._control is not None
        self._control.enrol_totp(*self._require_selection())
        self._user_side.value = styled("Authenticator app enrolled: TOTP now stays TOTP", "info")

    # -- plumbing --------------------------------------------------------------------------

    def _run(self, action: Callable[[], None], *, shows: tuple[widgets.HTML, ...] = ()) -> None:
        """Run one call: buttons off while in flight, errors (and a row the log could not
        write) shown in the form, panel refreshed. The lines in ``shows`` are cleared first,
        so a failed call shows its message alone, not beside an earlier call's result.
        """
        if self._busy:  # button.click() ignores `disabled`, so guard here too
            return
        with self._in_flight():
            for line in (self._message, *shows):
                line.value = ""
            error: VerigatorError | ValueError | None = None
            try:
                action()
            except (VerigatorError, ValueError) as exc:
                error = exc
            unlogged = self._guard.take_failure() if self._guard is not None else None
            self._message.value = message_html(error, unlogged)
        if self._panel is not None:
            self._panel.refresh()

    @contextmanager
    def _in_flight(self) -> Iterator[None]:
        buttons = [self._initiate, self._verify, self._show_sms, self._totp_code, self._enrol]
        active = [button for button in buttons if button is not None]
        self._busy = True
        for button in active:
            button.disabled = True
        try:
            yield
        finally:
            self._busy = False
            for button in active:
                button.disabled = False

    def _require_selection(self) -> tuple[str, str]:
        if not self.service_id or not self.user_id:
            raise ValueError("choose a service and a user first")
        return self.service_id, self.user_id

    def _add_service(self, service: Service) -> None:
        label = f"{service.name} ({service.id[:8]})"
        self._service.options = [*self._service.options, (label, service.id)]
        self._service.value = service.id

    def _add_user(self, user: User) -> None:
        self._user.options = [*self._user.options, (user.username, user.id)]
        self._user.value = user.id
