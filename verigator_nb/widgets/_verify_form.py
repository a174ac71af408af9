"""``VerifyForm``: choose a service and user, start a login check, type the PIN, see the outcome.

The form holds one ``FormState`` (``_form_state``): every action makes the next state and the
whole view is drawn from it (``_render``), so what it shows is always the selected user's
current login and nothing older. Every call goes through the given ``Api`` (recording to
``log`` when one is given), so the form and a notebook cell produce the same rows. API and
input errors, and a row the log could not write, are a message for people with the technical
detail one click away, never a traceback. A PIN is checked before it is sent; a call in flight
blocks other actions, and a second click arriving from the page just after an action ends is
taken for a double click and dropped. Against the sandbox, buttons play the user and move the
clock, and the login shows its expiry countdown and tries left. No PIN or phone number stays
in the widgets (whose state a notebook saves). Tests drive it through ``.value``/``.click()``
and read ``state``.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from html import escape
from typing import TYPE_CHECKING, Final

import ipywidgets as widgets

from verigator_nb.client import Api
from verigator_nb.errors import NoSuchResourceError, VerigatorError
from verigator_nb.log import OutcomeLog
from verigator_nb.models import (
    METHOD_SMS,
    METHOD_TOTP,
    RESULT_INVALID,
    TOTP_STEP_SECONDS,
    Initiation,
    Service,
    User,
    Verification,
)
from verigator_nb.widgets import _form_state as fs
from verigator_nb.widgets._clicks import DoubleClicks, PageButton
from verigator_nb.widgets._form_state import FormState, Note
from verigator_nb.widgets._format import (
    error_text,
    explain,
    initiation_text,
    note_html,
    outcome_text,
    phone_hint,
    plain,
    styled,
    tone_of,
    unlogged_text,
)
from verigator_nb.widgets._log_guard import LogGuard
from verigator_nb.widgets._log_panel import LogPanel
from verigator_nb.widgets._pin_entry import PinEntry
from verigator_nb.widgets._setup_form import SetupForm

if TYPE_CHECKING:  # only a type here: importing the sandbox would start loading its server
    from verigator_nb.sandbox import SandboxControl

__all__ = ["VerifyForm"]


_GONE_USER: Final = "no longer exists (deleted elsewhere): the list is up to date."
CLOCK_STEPS: Final = (("+30 s", 30), ("+5 min", 300), ("+15 min", 900))
_NARROW: Final = widgets.Layout(flex_flow="row wrap", align_items="center")


class VerifyForm(widgets.VBox):
    """An interactive verify form for one ``Api``; ``control`` adds play-the-user buttons.

    ``services`` pre-fills the service dropdown (the API has no "list services" call), and
    services created through the form's setup section are added to it. ``state`` is what the
    form shows, as a value. In a live kernel the login's expiry counts down every
    ``tick_seconds`` (sandbox only; None: only when something is clicked).
    """

    def __init__(
        self,
        api: Api,
        log: OutcomeLog | None = None,
        *,
        control: SandboxControl | None = None,
        services: Iterable[Service] = (),
        tick_seconds: float | None = 1.0,
    ) -> None:
        sink = log if log is not None else api.log
        # Rows go through a guard, so a failed write is shown with the outcome, not raised.
        self._guard = LogGuard(sink) if sink is not None else None
        self._api = api if self._guard is None else api.with_log(self._guard)
        self._control = control
        self._rules = _sandbox_rules() if control is not None else None
        self._state = FormState()
        self._warning: Note | None = None  # a row the log could not write, with the outcome
        self._services: tuple[tuple[str, str], ...] = ()
        self._lock = threading.RLock()
        self._busy = False
        self._drawing: int | None = None  # the thread drawing the dropdowns, if one is
        self._clicks = DoubleClicks()
        self._ticker = _Ticker(self, tick_seconds) if tick_seconds and _live_kernel() else None
        self._build(log)
        for service in services:
            self._add_service(service)
        self._render()

    # -- what a test or a notebook reads and sets ------------------------------------------

    @property
    def state(self) -> FormState:
        """What the form shows, as a value (see ``FormState``)."""
        return self._state

    @property
    def service_id(self) -> str | None:
        """The selected service's id."""
        return self._state.service_id

    @service_id.setter
    def service_id(self, value: str | None) -> None:
        self._service.value = value

    @property
    def user_id(self) -> str | None:
        """The selected user's id."""
        return self._state.user_id

    @user_id.setter
    def user_id(self, value: str | None) -> None:
        self._user.value = value

    @property
    def username(self) -> str | None:
        """The selected user's name, as the user dropdown shows it."""
        return dict((uid, name) for name, uid in self._state.users).get(self.user_id or "")

    @property
    def service_ids(self) -> tuple[str, ...]:
        """The ids the service dropdown offers, in order."""
        return tuple(service_id for _, service_id in self._services)

    @property
    def user_ids(self) -> tuple[str, ...]:
        """The ids the user dropdown offers (the selected service's users), in order."""
        return tuple(user_id for _, user_id in self._state.users)

    @property
    def method(self) -> str:
        """The method to request: ``"totp"`` or ``"sms"``."""
        return str(self._method.value)

    @method.setter
    def method(self, value: str) -> None:
        self._method.value = value

    @property
    def pin(self) -> str:
        """The PIN a notebook cell typed (``form.pin = ...``), to be sent by
        ``verify_button.click()``; kept in the kernel only, emptied by the click."""
        return self._pin.typed

    @pin.setter
    def pin(self, value: str) -> None:
        self._pin.typed = value

    @property
    def initiation(self) -> Initiation | None:
        """The current login's start (None before one, and after another user is chosen)."""
        login = self._state.login
        return login.initiation if login else None

    @property
    def verification(self) -> Verification | None:
        """The current login's latest verify outcome."""
        login = self._state.login
        return login.outcome if login else None

    @property
    def method_text(self) -> str:
        """The method line: what the server used for the current login, with the fallback
        spelled out; empty without a login."""
        login = self._state.login
        return initiation_text(login.initiation) if login else ""

    @property
    def login_text(self) -> str:
        """The current login's details as shown: method asked, expiry, tries left."""
        return plain(self._login.value)

    @property
    def outcome_text(self) -> str:
        """The outcome line as shown: ``Verified`` or ``Not verified: RESULT (reason)``;
        empty until a verify of the current login succeeds."""
        return plain(self._outcome.value)

    @property
    def outcome_tone(self) -> str | None:
        """How the outcome line is coloured: ``"ok"`` (green), ``"bad"`` (red), or ``None``."""
        return tone_of(self._outcome.value)

    @property
    def message(self) -> str:
        """The latest action's error or hint as text (and a row the log could not write),
        empty when it went well; the technical detail is not part of it."""
        notes = [note.text for note in (self._state.message, self._warning) if note]
        return "\n".join(notes)

    @property
    def message_detail(self) -> str:
        """The technical detail behind the message (error class, status, path), if any."""
        note = self._state.message
        return note.detail if note else ""

    @property
    def user_side(self) -> str:
        """What the latest play-the-user click showed, as text (sandbox only)."""
        note = self._state.user_side
        return note.text if note else ""

    @property
    def busy(self) -> bool:
        """True while a call is in flight."""
        return self._busy

    @property
    def initiate_button(self) -> widgets.Button:
        """Starts a login check with the chosen method."""
        return self._initiate

    @property
    def verify_button(self) -> PinEntry:
        """The PIN box with its Verify button: ``click()`` sends what ``pin`` holds."""
        return self._pin

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
    def clock_buttons(self) -> dict[str, widgets.Button]:
        """Sandbox only: the buttons moving the sandbox clock on, by label (``+5 min``...)."""
        return dict(self._clock)

    @property
    def setup(self) -> SetupForm:
        """The create-a-service / add-a-user subform."""
        return self._setup

    @property
    def panel(self) -> LogPanel | None:
        """The live log panel, when the form was given a log."""
        return self._panel

    def __repr__(self) -> str:
        service = dict((sid, label) for label, sid in self._services).get(self.service_id or "")
        return f"VerifyForm(service={service!r}, user={self.username!r}, method={self.method!r})"

    def submit_pin(self, text: str) -> None:
        """Type ``text`` into the PIN box and press Enter, as a person in the browser would."""
        # Where the kernel's comm delivers the page's submit, which carries the typed text.
        self._pin._on_front_end_msg(self._pin, {"event": "submit", "value": text}, [])

    def tick(self) -> None:
        """Read the sandbox clock and redraw the countdown (what the live ticker does)."""
        if self._control is None or self._busy:
            return
        with self._lock:
            try:
                now = self._control.now()
            except VerigatorError:
                return
            self._state = fs.clocked(self._state, now)
            self._render()

    # -- layout ----------------------------------------------------------------------------

    def _build(self, log: OutcomeLog | None) -> None:
        fit = widgets.Layout(width="auto", min_width="16em", flex="1 1 auto")
        label = {"description_width": "5em"}
        self._service = widgets.Dropdown(description="Service", layout=fit, style=label)
        self._user = widgets.Dropdown(description="User", layout=fit, style=label)
        self._method = widgets.ToggleButtons(
            options=[("TOTP app", METHOD_TOTP), ("SMS", METHOD_SMS)],
            style={"button_width": "6.5em"},
            layout=widgets.Layout(width="auto"),
        )
        self._initiate = PageButton(description="Initiate", button_style="primary")
        self._login = widgets.HTML().add_class("verigator-login")
        self._pin = PinEntry(description="PIN", placeholder="the 6 digits")
        self._outcome = widgets.HTML().add_class("verigator-outcome")
        self._message = widgets.HTML().add_class("verigator-message")
        self._user_side = widgets.HTML().add_class("verigator-user-side")
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
            widgets.HBox([self._service, self._user], layout=_NARROW),
            setup,
            widgets.HBox([_label("Method"), self._method, self._initiate], layout=_NARROW),
            self._login,
            self._pin,
            self._outcome,
            self._message,
        ]
        rows += self._sandbox_rows()
        super().__init__(rows + ([self._panel] if self._panel else []))

    def _sandbox_rows(self) -> list[widgets.Widget]:
        self._show_sms = self._totp_code = self._enrol = None
        self._clock: list[tuple[str, widgets.Button]] = []
        if self._control is None:
            return []
        plays = [
            ("Show SMS", "envelope", "The SMS the user got for this login", self._on_show_sms),
            ("TOTP code", "clock", "The code the user's app shows now", self._on_totp_code),
            ("Enrol app", "mobile", "Give the user an authenticator app", self._on_enrol),
        ]
        buttons = []
        for text, icon, tip, handler in plays:
            button = PageButton(description=text, icon=icon, tooltip=tip)
            button.layout.width = "auto"
            button.on_click(handler)
            buttons.append(button)
        self._show_sms, self._totp_code, self._enrol = buttons
        for text, seconds in CLOCK_STEPS:
            button = PageButton(description=text, tooltip=f"Move the sandbox clock {text}")
            button.layout.width = "auto"
            button.on_click(lambda b, s=seconds: self._on_clock(b, s))
            self._clock.append((text, button))
        user = widgets.HTML("<i>Play the user:</i>")
        clock = widgets.HTML("<i>Sandbox clock:</i>")
        return [
            widgets.HBox([user, *buttons], layout=_NARROW),
            widgets.HBox([clock, *(b for _, b in self._clock)], layout=_NARROW),
            self._user_side,
        ]

    def _wire(self) -> None:
        self._service.observe(self._on_service_change, names="value")
        self._user.observe(self._on_user_change, names="value")
        self._initiate.on_click(self._on_initiate)
        # The page's Enter and Verify both send the text they saw with the event: no value
        # update can be overtaken (``PinEntry``).
        self._pin.on_submit(lambda text: self._on_verify(text, self._pin.from_page))

    # -- handlers --------------------------------------------------------------------------

    def _on_service_change(self, change: dict[str, object]) -> None:
        if self._drawing == threading.get_ident():  # the form drawing itself, not a person
            return
        service_id = change["new"] if isinstance(change["new"], str) else None
        self._setup.clear_status()  # what it said was about the service before
        self._act("service", lambda: self._choose_service(service_id))

    def _on_user_change(self, change: dict[str, object]) -> None:
        if self._drawing == threading.get_ident():
            return
        user_id = change["new"] if isinstance(change["new"], str) else None
        self._act("user", lambda: self._choose_user(user_id))

    def _on_initiate(self, button: PageButton) -> None:
        self._act("start", self._do_initiate, from_page=button.from_page)

    def _on_verify(self, pin: str, from_page: bool) -> None:
        # The page empties the box as it sends: a second Verify or Enter right after the
        # first sends nothing, and is the same press, not a request to verify nothing.
        check = lambda: self._do_verify(pin)  # noqa: E731
        self._act("check", check, from_page=from_page, may_repeat=not pin.strip())

    def _on_show_sms(self, button: PageButton) -> None:
        self._act("show_sms", self._do_show_sms, from_page=button.from_page)

    def _on_totp_code(self, button: PageButton) -> None:
        self._act("app_code", self._do_totp_code, from_page=button.from_page)

    def _on_enrol(self, button: PageButton) -> None:
        self._act("enrol_app", self._do_enrol, from_page=button.from_page)

    def _on_clock(self, button: PageButton, seconds: int) -> None:
        self._act(f"clock {seconds}", lambda: self._advance(seconds), from_page=button.from_page)

    # -- the actions: each makes the next state --------------------------------------------

    def _choose_service(self, service_id: str | None) -> None:
        self._set(fs.selected_service(self._state, service_id))
        if service_id:
            self._list_users()

    def _choose_user(self, user_id: str | None) -> None:
        """Another user: the list read again, so a user deleted elsewhere goes from it."""
        self._set(fs.selected_user(self._state, user_id))
        if self.service_id and user_id:
            gone = Note(f"That user {_GONE_USER}", "warn")
            self._relist(self._read_users(self.service_id), user_id, None, gone)

    def _list_users(self) -> None:
        self._set(fs.users_listed(self._state, self._read_users(str(self.service_id))))

    def _read_users(self, service_id: str) -> tuple[tuple[str, str], ...]:
        """The service's users as the dropdown lists them: (name, id)."""
        return tuple((u.username, u.id) for u in self._api.users.get_all(service_id))

    def _relist(
        self, users: tuple[tuple[str, str], ...], user_id: str | None, kept: Note | None, gone: Note
    ) -> None:
        """``users`` listed, ``user_id`` still chosen (with the note ``kept``) when it is among
        them; else the first user, and the note ``gone``."""
        listed = fs.users_listed(self._state, users)
        if any(uid == user_id for _, uid in users):
            chosen = fs.selected_user(listed, user_id)
            self._set(fs.failed(chosen, kept) if kept else chosen)
        else:
            self._set(fs.failed(listed, gone))

    def _do_initiate(self) -> None:
        service_id, user_id = self._require_selection()
        asked = self.method
        initiation = self._api.auth.initiate(service_id, user_id, asked)
        now = self._control.now() if self._control is not None else None
        ttl, tries, _ = self._rules or (None, None, None)
        self._set(fs.started(self._state, initiation, asked, now=now, pin_ttl=ttl, tries=tries))

    def _do_verify(self, typed: str) -> None:
        self._require_selection()
        login = self._state.login
        if login is None:
            raise ValueError("Start a login first: choose the method and press Initiate.")
        if login.done:
            raise ValueError("This login is verified already: press Initiate to start another.")
        problem = fs.pin_problem(typed)
        if problem:
            self._pin.restore(typed)  # nothing was sent: the text goes back to be corrected
            raise ValueError(problem)
        verification = self._api.auth.verify(login.initiation, fs.clean_pin(typed))
        if self._control is not None:
            self._state = fs.clocked(self._state, self._control.now())
        self._set(fs.checked(self._state, verification))

    def _do_show_sms(self) -> None:
        assert self._control is not None
        login = self._state.login
        auth_id = login.auth_id if login else None
        messages = [m for m in self._control.outbox() if auth_id and m.auth_id == auth_id]
        if not messages:
            raise ValueError("No SMS for this login: press Initiate with SMS (or TOTP fallback).")
        message = messages[-1]
        text = f"SMS to {phone_hint(message.to)}: “{message.text}”"
        self._set(fs.noted(self._state, Note(text)))

    def _do_totp_code(self) -> None:
        assert self._control is not None
        code = self._control.totp_code(*self._require_selection())
        self._set(fs.noted(self._state, Note(f"Authenticator app shows {code}")))

    def _do_enrol(self) -> None:
        assert self._control is not None
        self._control.enrol_totp(*self._require_selection())
        note = Note(
            "Authenticator app set up with a new secret: TOTP now stays TOTP "
            "(an app set up before for this user shows wrong codes now)"
        )
        self._set(fs.noted(self._state, note))

    def _advance(self, seconds: float) -> None:
        assert self._control is not None
        now = self._control.advance(seconds)
        label = dict((s, t) for t, s in CLOCK_STEPS).get(int(seconds), f"+{seconds:g} s")
        note = Note(f"Sandbox clock moved on {label}: now {now:%H:%M:%S} UTC")
        self._set(fs.noted(fs.clocked(self._state, now), note))

    # -- plumbing --------------------------------------------------------------------------

    def _act(
        self,
        name: str,
        action: Callable[[], None],
        *,
        from_page: bool = False,
        may_repeat: bool = True,
    ) -> None:
        """Run one action: nothing else while it runs, its error (and a row the log could
        not write) shown as a note, the panel refreshed. A press from the page arriving just
        after a press of the same action ended is the second half of a double click, sent
        before the page knew the first was answered, and is dropped (unless ``may_repeat``
        is False: a Verify with a new PIN is a new press)."""
        if self._busy:  # button.click() ignores `disabled`, and a thread may tick
            return
        if may_repeat and self._clicks.repeated(name, from_page=from_page):
            return
        with self._lock, self._in_flight():
            self._warning = None
            try:
                action()
            except ValueError as exc:
                self._set(fs.failed(self._state, Note(str(exc), "warn")))
            except VerigatorError as exc:
                self._failed(name, exc)
            unlogged = self._guard.take_failure() if self._guard is not None else None
            self._warning = Note(unlogged_text(unlogged), "warn") if unlogged else None
        self._clicks.ended(name, from_page=from_page)
        self._render()
        if self._panel is not None:
            self._panel.refresh()
        if self._ticker is not None:
            self._ticker.wake()

    def _failed(self, name: str, error: VerigatorError) -> None:
        lockout = self._rules[2] if self._rules else None
        note = Note(explain(error, name, lockout=lockout), "bad", error_text(error))
        self._set(fs.failed(self._state, note))
        if isinstance(error, NoSuchResourceError) and name != "app_code":
            self._reread(note)

    def _reread(self, note: Note) -> None:
        """After a 404: read the lists again, and say which one lost what was chosen."""
        service_id, user_id = self.service_id, self.user_id
        if not service_id:
            return
        try:
            users = self._read_users(service_id)
        except NoSuchResourceError:
            self._services = tuple(s for s in self._services if s[1] != service_id)
            text = "That service no longer exists (deleted elsewhere): choose another service."
            self._set(fs.failed(fs.selected_service(self._state, None), Note(text, "bad")))
            return
        except VerigatorError:
            return
        named = f"{self.username or 'That user'} {_GONE_USER}"
        self._relist(users, user_id, note, Note(named, "bad", note.detail))

    def _set(self, state: FormState) -> None:
        self._state = state

    @contextmanager
    def _in_flight(self) -> Iterator[None]:
        self._busy = True
        self._render_buttons()
        try:
            yield
        finally:
            self._busy = False
            self._render_buttons()

    def _render(self) -> None:
        """Draw the whole form from the state: every line says what the state says."""
        with self._lock:  # the ticker draws from its own thread
            self._draw(self._state)

    def _draw(self, state: FormState) -> None:
        self._drawing = threading.get_ident()
        try:
            self._service.options = self._services
            self._service.value = state.service_id if state.service_id in self.service_ids else None
            self._user.options = state.users
            self._user.value = state.user_id if state.user_id in self.user_ids else None
        finally:
            self._drawing = None
        login = state.login
        self._login.value = _login_html(state) if login else ""
        outcome = login.outcome if login else None
        tone = "ok" if outcome and outcome.verified else "bad"
        self._outcome.value = styled(_outcome_text(state), tone) if outcome else ""
        self._message.value = _notes_html(state.message, self._warning)
        self._user_side.value = styled(state.user_side.text, "info") if state.user_side else ""
        self._render_buttons()

    def _render_buttons(self) -> None:
        buttons = [self._initiate, self._show_sms, self._totp_code, self._enrol]
        buttons += [button for _, button in self._clock]
        for button in buttons:
            if button is not None:
                button.disabled = self._busy
        self._pin.disabled = self._busy

    def _require_selection(self) -> tuple[str, str]:
        if not self.service_id or not self.user_id:
            raise ValueError("Choose a service and a user first.")
        return self.service_id, self.user_id

    def _add_service(self, service: Service) -> None:
        label = f"{service.name} ({service.id[:8]})"
        self._services = (*self._services, (label, service.id))
        self._choose_service(service.id)
        self._render()

    def _add_user(self, user: User) -> None:
        users = (*self._state.users, (user.username, user.id))
        self._set(fs.selected_user(replace(self._state, users=users), user.id))
        self._render()

    def _needs_tick(self) -> bool:
        return self._state.expires_in is not None and self._state.expires_in > timedelta(0)


class _Ticker:
    """Redraws a form's countdown every ``seconds`` while its login has one, in a daemon
    thread that holds the form weakly and sleeps when there is nothing to count."""

    def __init__(self, form: VerifyForm, seconds: float) -> None:
        self._form = weakref.ref(form)
        self._seconds = seconds
        self._wake = threading.Event()
        threading.Thread(target=self._run, name="verify-form-ticker", daemon=True).start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            form = self._form()
            if form is None:
                return
            counting = form._needs_tick()
            del form
            if not counting:
                self._wake.wait()
                self._wake.clear()
                continue
            time.sleep(self._seconds)
            form = self._form()
            if form is not None:
                form.tick()
            del form


def _login_html(state: FormState) -> str:
    """The current login: the method used (fallback marked), the method asked, the expiry
    countdown and the tries left, when known."""
    login = state.login
    assert login is not None
    tone = "warn" if login.fallback else "info"
    parts = [f"asked {login.method_asked.upper()}"]
    if login.auth_id:
        parts.append(f"auth id {login.auth_id[:8]}…")
    left = state.expires_in
    seconds = int(left.total_seconds()) if left is not None else None
    if seconds is not None:
        parts.append(
            f"PIN expires in {seconds // 60}:{seconds % 60:02d}" if seconds else "PIN expired"
        )
    if login.tries is not None and not login.done and seconds != 0:
        tries = "no tries left" if login.tries == 0 else f"{login.tries} tries left"
        parts.append("1 try left" if login.tries == 1 else tries)
    details = escape(" · ".join(parts))
    return f"{styled(initiation_text(login.initiation), tone)} <small>({details})</small>"


def _label(text: str) -> widgets.Label:
    """A row's name, as wide as the descriptions of the other rows."""
    return widgets.Label(text, layout=widgets.Layout(width="5em", justify_content="flex-end"))


def _notes_html(message: Note | None, warning: Note | None) -> str:
    """The message line: the note in its tone, its technical detail folded away under it,
    then a row the log could not write."""
    notes = [note for note in (message, warning) if note is not None]
    return "<br>".join(note_html(note.text, note.tone, note.detail) for note in notes)


def _outcome_text(state: FormState) -> str:
    """The latest verify's outcome; a TOTP code refused may have been right but used already
    (an app's code works once), so that is said, with when the app shows its next code."""
    login = state.login
    assert login is not None and login.outcome is not None
    outcome = login.outcome
    if outcome.verified or login.method_used != METHOD_TOTP or outcome.result != RESULT_INVALID:
        return outcome_text(outcome)
    step = TOTP_STEP_SECONDS
    when = "soon"
    if state.now is not None:
        when = f"in {math.ceil(step - state.now.timestamp() % step)} s"
    return (
        f"Not verified: INVALID (wrong code, or one used already: the app shows a new one {when})"
    )


def _sandbox_rules() -> tuple[float, int, float]:
    """The sandbox's SMS PIN lifetime, wrong tries per PIN and user lockout, in seconds."""
    from verigator_nb.sandbox._rules import PIN_TTL, PIN_WRONG_LIMIT, USER_LOCKOUT

    return PIN_TTL, PIN_WRONG_LIMIT, USER_LOCKOUT


def _live_kernel() -> bool:
    """True inside a Jupyter kernel, where someone watches the countdown."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None
