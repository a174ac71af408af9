"""``api.services`` and ``api.users``: the resource namespaces, shaped like the official client."""

from __future__ import annotations

from typing import Any

from verigator_nb.client._args import E164, field, parse_time, require_text, segment
from verigator_nb.client._phone import phone_facts, region_of
from verigator_nb.client._recorder import Recorder
from verigator_nb.client._transport import JsonTransport
from verigator_nb.models import Service, User

__all__ = ["Services", "Users", "region_of", "user_path"]


class Services:
    """``api.services``: create, get and delete services."""

    def __init__(self, transport: JsonTransport) -> None:
        self._transport = transport

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._transport.request(method, path, body)[1]

    def create(self, domain: str, name: str) -> Service:
        """Register a service; ``name`` is the issuer the authenticator app shows."""
        body = {"fqdn": require_text("domain", domain), "name": require_text("name", name)}
        return self._service(self._request("POST", "/v1/service/service", body))

    def get(self, id: str) -> Service:
        """Fetch one service by id."""
        path = f"/v1/service/service/{segment('id', id)}"
        return self._service(self._request("GET", path))

    def delete(self, id: str) -> None:
        """Delete a service (the server refuses while it still has users)."""
        self._request("DELETE", f"/v1/service/service/{segment('id', id)}")

    @staticmethod
    def _service(payload: Any) -> Service:
        path = "/v1/service/service"
        return Service(
            field(payload, "id", path), parse_time(payload, path), payload.get("name", "")
        )


class Users:
    """``api.users``: create, get, list and delete a service's users.

    Creating a user tells ``recorder`` the region of its phone number, so the user's outcome
    rows carry a country (the number itself is never kept).
    """

    def __init__(self, transport: JsonTransport, recorder: Recorder) -> None:
        self._transport = transport
        self._recorder = recorder

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._transport.request(method, path, body)[1]

    def create(self, service_id: str, number: str, username: str) -> User:
        """Add a user with an E.164 phone number (``+`` and country code, 7-15 digits)."""
        if not isinstance(number, str) or not E164.fullmatch(number):
            raise ValueError("number must be + followed by 7 to 15 digits, country code first")
        body = {"id_in_service": require_text("username", username), "phone_number": number}
        user = self._user(self._request("POST", self._path(service_id), body))
        self._recorder.remember_phone(user.id, phone_facts(number))
        return user

    def get(self, service_id: str, id: str) -> User:
        """Fetch one user."""
        return self._user(self._request("GET", f"{self._path(service_id)}/{segment('id', id)}"))

    def get_all(self, service_id: str) -> list[User]:
        """Every user of the service, in creation order."""
        payload = self._request("GET", self._path(service_id))
        users = field(payload, "users", self._path(service_id))
        return [self._user(item) for item in users]

    def delete(self, service_id: str, id: str) -> None:
        """Delete a user and its pending authentications."""
        self._request("DELETE", f"{self._path(service_id)}/{segment('id', id)}")

    @staticmethod
    def _path(service_id: str) -> str:
        return user_path(service_id)

    @staticmethod
    def _user(payload: Any) -> User:
        path = "/v1/service/service/users"
        return User(
            field(payload, "id", path),
            parse_time(payload, path),
            payload.get("id_in_service", ""),
        )


def user_path(service_id: str) -> str:
    """``/v1/service/service/{service_id}/users``, the id made safe for a path segment."""
    return f"/v1/service/service/{segment('service_id', service_id)}/users"
