"""Every endpoint through the client, against the real sandbox over HTTP on 127.0.0.1."""

from __future__ import annotations

from datetime import datetime

import pytest

from verigator_nb import errors
from verigator_nb.sandbox import Sandbox


@pytest.fixture
def api(sandbox):
    with sandbox.api() as client:
        yield client


@pytest.fixture
def service(api):
    return api.services.create("www.example.com", "CoffeeShop")


@pytest.fixture
def user(api, service):
    return api.users.create(service.id, "+4401234567", "john.doe@example.com")


def test_create_service_returns_a_service_with_id_time_and_name(api) -> None:
    service = api.services.create("www.example.com", "CoffeeShop")
    assert service.name == "CoffeeShop"
    assert service.id and isinstance(service.creation_time, datetime)
    assert service.creation_time.utcoffset() is not None


def test_get_service_returns_what_create_made(api, service) -> None:
    assert api.services.get(service.id) == service


def test_service_name_taken_twice_is_a_conflict(api, service) -> None:
    with pytest.raises(errors.ResourceAlreadyExistsError) as caught:
        api.services.create("other.example.com", "CoffeeShop")
    assert caught.value.status == 409 and caught.value.method == "POST"


def test_deleted_service_is_gone(api, service) -> None:
    api.services.delete(service.id)
    with pytest.raises(errors.NoSuchResourceError) as caught:
        api.services.get(service.id)
    assert caught.value.status == 404 and service.id in caught.value.path


def test_service_with_users_cannot_be_deleted(api, service, user) -> None:
    with pytest.raises(errors.ResourceAlreadyExistsError):
        api.services.delete(service.id)
    api.users.delete(service.id, user.id)
    api.services.delete(service.id)


def test_users_are_created_listed_fetched_and_deleted(api, service) -> None:
    alice = api.users.create(service.id, "+37255555555", "alice")
    bob = api.users.create(service.id, "+4401234567", "bob")
    assert [u.username for u in api.users.get_all(service.id)] == ["alice", "bob"]
    assert api.users.get(service.id, bob.id) == bob
    api.users.delete(service.id, alice.id)
    assert api.users.get_all(service.id) == [bob]
    with pytest.raises(errors.NoSuchResourceError):
        api.users.get(service.id, alice.id)


def test_same_user_twice_is_a_conflict(api, service, user) -> None:
    with pytest.raises(errors.ResourceAlreadyExistsError):
        api.users.create(service.id, "+4409999999", user.username)


def test_user_of_unknown_service_is_not_found(api) -> None:
    with pytest.raises(errors.NoSuchResourceError):
        api.users.create("no-such-service", "+4401234567", "x")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"fqdn": "d"}, id="missing-name"),
        pytest.param({"fqdn": 1, "name": "n"}, id="number-fqdn"),
        pytest.param({"fqdn": "", "name": "n"}, id="empty-fqdn"),
    ],
)
def test_invalid_service_body_is_invalid_data(api, body) -> None:
    with pytest.raises(errors.InvalidDataError) as caught:
        api.request("POST", "/v1/service/service", body)
    assert caught.value.status == 422


def test_invalid_phone_number_is_invalid_data(api, service) -> None:
    body = {"id_in_service": "x", "phone_number": "0123 not a number"}
    with pytest.raises(errors.InvalidDataError):
        api.request("POST", f"/v1/service/service/{service.id}/users", body)


def test_wrong_password_is_wrong_credentials_and_never_shows_the_password(sandbox) -> None:
    bad = sandbox.api().__class__("sandbox", "not-the-password-xyz", sandbox.url)
    with pytest.raises(errors.WrongCredentialsError) as caught:
        bad.services.create("d", "n")
    assert caught.value.status == 401
    assert "not-the-password-xyz" not in str(caught.value) + repr(caught.value)


def test_another_accounts_service_and_user_are_forbidden_and_reveal_nothing() -> None:
    accounts = {"alice": "alice-pw", "mallory": "mallory-pw"}
    with Sandbox(seed=3, accounts=accounts) as sb:
        alice, mallory = sb.api(username="alice"), sb.api(username="mallory")
        service = alice.services.create("alice.example.com", "AliceShop")
        user = alice.users.create(service.id, "+4401234567", "alice@example.com")
        calls = [
            lambda: mallory.services.get(service.id),
            lambda: mallory.services.delete(service.id),
            lambda: mallory.users.get_all(service.id),
            lambda: mallory.users.get(service.id, user.id),
            lambda: mallory.users.delete(service.id, user.id),
            lambda: mallory.auth.initiate(service.id, user.id, "sms"),
            lambda: mallory.auth.verify(service.id, user.id, "123456"),
        ]
        for call in calls:
            with pytest.raises(errors.ResourceForbiddenError) as caught:
                call()
            assert "AliceShop" not in caught.value.message
            assert "alice@example.com" not in caught.value.message
        assert alice.services.get(service.id).name == "AliceShop"
