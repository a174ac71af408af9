"""Arguments are checked before anything is sent; reprs and messages keep secrets out."""

from __future__ import annotations

import pytest

from tests._scripted_server import Reply, ScriptedServer
from verigator_nb.client import Api
from verigator_nb.errors import NoSuchResourceError
from verigator_nb.models import Initiation, Verification


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        pytest.param(lambda api: api.services.get(""), "id", id="empty-service-id"),
        pytest.param(lambda api: api.services.create("d", "  "), "name", id="blank-name"),
        pytest.param(lambda api: api.users.get("s", ""), "id", id="empty-user-id"),
        pytest.param(lambda api: api.users.get_all(""), "service_id", id="empty-service"),
        pytest.param(lambda api: api.users.create("s", "4401234567", "u"), "number", id="no-plus"),
        pytest.param(lambda api: api.auth.initiate("s", "u", "email"), "method", id="bad-method"),
        pytest.param(lambda api: api.auth.verify("s", "u", 123456), "token", id="int-token"),
        pytest.param(lambda api: api.auth.verify("s", "", "1"), "user_id", id="empty-user"),
    ],
)
def test_bad_argument_raises_value_error_naming_it_and_sends_nothing(call, argument) -> None:
    with ScriptedServer([Reply(200, b"{}")]) as server:
        with pytest.raises(ValueError, match=argument):
            call(Api("user", "pw", server.url))
    assert server.seen == []


def test_repr_masks_the_password() -> None:
    api = Api("alice", "hunter2-very-secret", "http://127.0.0.1:9")
    assert "hunter2-very-secret" not in repr(api)
    assert "alice" in repr(api)


def test_from_env_reads_the_three_variables() -> None:
    env = {
        "VERIGATOR_USERNAME": "u",
        "VERIGATOR_PASSWORD": "p",
        "VERIGATOR_ENDPOINT": "http://127.0.0.1:8080/",
    }
    api = Api.from_env(env)
    assert (api.username, api.endpoint) == ("u", "http://127.0.0.1:8080")


def test_from_env_names_the_missing_variable() -> None:
    with pytest.raises(ValueError, match="VERIGATOR_PASSWORD"):
        Api.from_env({"VERIGATOR_USERNAME": "u"})


@pytest.mark.parametrize("timeout", [0, -1, (1, 0), (1, 2, 3), "5"])
def test_timeout_must_be_positive(timeout) -> None:
    with pytest.raises(ValueError, match="timeout"):
        Api("u", "p", "http://127.0.0.1:9", timeout=timeout)


def test_single_number_timeout_sets_connect_and_read() -> None:
    timeout = Api("u", "p", "http://127.0.0.1:9", timeout=2).timeout
    assert (timeout.connect, timeout.read, timeout.total) == (2.0, 2.0, 4.0)


def test_ids_cannot_escape_their_path_segment() -> None:
    with ScriptedServer([Reply(404, b'{"message": "not found"}')]) as server:
        with pytest.raises(NoSuchResourceError):
            Api("u", "p", server.url).services.get("../users/%2F")
    assert server.seen[0].path == "/v1/service/service/..%2Fusers%2F%252F"


def test_verification_unpacks_like_the_official_client() -> None:
    failed = Verification(False, "sms", "EXPIRED", 200, {"expired": True, "result": "EXPIRED"})
    verified, error = failed
    assert verified is False and error is not None and error["result"] == "EXPIRED"
    verified, error = Verification(True, "totp", "VERIFIED", 200)
    assert (verified, error) == (True, None)


def test_initiation_reports_fallback_only_when_totp_became_sms() -> None:
    assert Initiation("s", "u", "totp", "sms", "a1").fallback
    assert not Initiation("s", "u", "sms", "sms", "a1").fallback
    assert not Initiation("s", "u", "totp", "totp").fallback


def test_id_with_a_lone_surrogate_is_a_value_error_naming_it_and_sends_nothing() -> None:
    with ScriptedServer([Reply(200, b"{}")]) as server:
        with pytest.raises(ValueError, match="user_id"):
            Api("u", "p", server.url).auth.initiate("s", "\ud800", "sms")
    assert server.seen == []
