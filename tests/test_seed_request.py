"""The seed page's verify request, exactly: method, URL, headers, body and status codes."""

from __future__ import annotations

import json

import requests

from verigator_nb.client import Api


def test_verify_sends_exactly_what_the_seed_page_describes(sandbox) -> None:
    sent: list[requests.PreparedRequest] = []
    answers: list[requests.Response] = []
    session = requests.Session()

    def capture(response: requests.Response, *args: object, **kwargs: object) -> None:
        sent.append(response.request)
        answers.append(response)

    session.hooks["response"].append(capture)
    api = Api("sandbox", "sandbox", sandbox.url, session=session)
    service = api.services.create("www.example.com", "CoffeeShop")
    user = api.users.create(service.id, "+4401234567", "john.doe@example.com")
    started = api.auth.initiate(service.id, user.id, api.auth.METHOD_TOTP)
    pin = sandbox.control(api).pin_for(started.auth_id)

    verified, error = api.auth.verify(service.id, user.id, pin)

    request, answer = sent[-1], answers[-1]
    assert request.method == "PUT"
    assert request.url == f"{sandbox.url}/v1/service/service/{service.id}/users/{user.id}/auth"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["X-Service-Auth"] == "sandbox:sandbox"
    assert json.loads(request.body) == {"method": "sms", "token": pin, "auth_id": started.auth_id}
    assert answer.status_code == 200
    assert answer.json()["method"] == "sms" and answer.json()["verified"] is True
    assert (verified, error) == (True, None)


def test_seed_status_codes_for_verify(sandbox) -> None:
    api = sandbox.api()
    service = api.services.create("www.example.com", "CoffeeShop")
    user = api.users.create(service.id, "+4401234567", "john.doe@example.com")
    url = f"{sandbox.url}/v1/service/service/{service.id}/users/{user.id}/auth"
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    authed = {**headers, "X-Service-Auth": "sandbox:sandbox"}
    body = {"method": "totp", "token": "123456"}

    def put(data: bytes, headers: dict[str, str], target: str = url) -> requests.Response:
        return requests.put(target, data=data, headers=headers, timeout=5)

    assert put(json.dumps(body).encode(), headers).status_code == 401
    assert put(json.dumps(body).encode(), authed).status_code == 200
    sms = {"method": "sms", "token": "123456", "auth_id": "unknown"}
    assert put(json.dumps(sms).encode(), authed).status_code == 404
    assert put(b"{not json", authed).status_code == 422
    assert (
        put(json.dumps(body).encode(), {**headers, "X-Service-Auth": "intruder:x"}).status_code
        == 401
    )
