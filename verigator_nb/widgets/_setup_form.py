"""A small form to create a service or add a user, for the verify form's dropdowns."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets
import phonenumbers

from verigator_nb.client import Api
from verigator_nb.errors import VerigatorError
from verigator_nb.models import Service, User
from verigator_nb.widgets._clicks import DoubleClicks, PageButton
from verigator_nb.widgets._format import error_text, explain, note_html, plain, styled

__all__ = ["SetupForm", "international_number"]

_WRAP = widgets.Layout(flex_flow="row wrap", align_items="center")


def international_number(text: str) -> str:
    """A phone number as typed (``+372 5551 2345``, ``+44 (0)1234-567``) in E.164, as the
    API takes it; ``ValueError`` in words when it is not one ``phonenumbers`` can read."""
    try:
        parsed = phonenumbers.parse(text.strip(), None)
    except phonenumbers.NumberParseException:
        raise ValueError(
            "Type the phone number with its country code, starting with +, e.g. +372 5551 2345."
        ) from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("That is not a possible phone number for its country: check the digits.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class SetupForm(widgets.VBox):
    """Create a service, or add a user to the service the verify form has selected.

    ``on_service`` and ``on_user`` are called with what was created; the selected service
    is read through ``service_id`` so this form never keeps its own copy of the selection.
    """

    def __init__(
        self,
        api: Api,
        *,
        service_id: Callable[[], str | None],
        on_service: Callable[[Service], None],
        on_user: Callable[[User], None],
    ) -> None:
        self._api = api
        self._service_id = service_id
        self._on_service = on_service
        self._on_user = on_user
        label = {"description_width": "6.5em"}
        fit = widgets.Layout(width="auto", min_width="14em", flex="1 1 auto")
        self._domain = widgets.Text(
            description="Domain", placeholder="e.g. www.example.com", style=label, layout=fit
        )
        self._name = widgets.Text(
            description="Name", placeholder="e.g. CoffeeShop", style=label, layout=fit
        )
        self._create_service = PageButton(description="Create service", icon="plus")
        self._phone = widgets.Text(
            description="Phone", placeholder="e.g. +44 01234 567", style=label, layout=fit
        )
        self._username = widgets.Text(
            description="Username", placeholder="e.g. john.doe@example.com", style=label, layout=fit
        )
        self._add_user = PageButton(description="Add user", icon="user-plus")
        self._clicks = DoubleClicks()
        self._status = widgets.HTML()
        self._create_service.on_click(self._on_create_service_click)
        self._add_user.on_click(self._on_add_user_click)
        super().__init__(
            [
                widgets.HBox([self._domain, self._name, self._create_service], layout=_WRAP),
                widgets.HBox([self._phone, self._username, self._add_user], layout=_WRAP),
                self._status,
            ]
        )

    @property
    def create_service_button(self) -> widgets.Button:
        """The button that creates a service from domain and name."""
        return self._create_service

    @property
    def add_user_button(self) -> widgets.Button:
        """The button that adds a user to the selected service."""
        return self._add_user

    @property
    def fields(self) -> dict[str, widgets.Text]:
        """The text fields by name: domain, name, phone, username."""
        return {
            "domain": self._domain,
            "name": self._name,
            "phone": self._phone,
            "username": self._username,
        }

    @property
    def status_text(self) -> str:
        """The status line as text: what the latest click created, or what went wrong."""
        return plain(self._status.value)

    def clear_status(self) -> None:
        """Forget the latest click's result (the verify form calls it on another service)."""
        self._status.value = ""

    def _on_create_service_click(self, button: PageButton) -> None:
        self._run("create_service", button, self._create)

    def _on_add_user_click(self, button: PageButton) -> None:
        self._run("add_user", button, self._add)

    def _run(self, name: str, button: PageButton, action: Callable[[], str]) -> None:
        """One click: its own result or error, never the last click's; a page's double
        click taken once."""
        if self._clicks.repeated(name, from_page=button.from_page):
            return
        self._status.value = ""
        try:
            self._status.value = styled(action(), "ok")
        except ValueError as exc:
            self._status.value = styled(str(exc), "warn")
        except VerigatorError as exc:
            self._status.value = note_html(explain(exc, name, lockout=None), "bad", error_text(exc))
        self._clicks.ended(name, from_page=button.from_page)

    def _create(self) -> str:
        service = self._api.services.create(self._domain.value, self._name.value)
        self._on_service(service)
        return f"Created service {service.name}"

    def _add(self) -> str:
        service_id = self._service_id()
        if not service_id:
            raise ValueError("Choose or create a service first.")
        number = international_number(self._phone.value)
        user = self._api.users.create(service_id, number, self._username.value)
        self._phone.value = ""  # the number is not kept anywhere in the form
        self._on_user(user)
        return f"Added user {user.username}"
