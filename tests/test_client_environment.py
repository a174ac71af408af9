"""Proxy, CA and .netrc settings are read once, when the ``Api`` is made (issue 14, point 2).

Over real sockets: a scripted server stands in for the proxy of plain-HTTP calls (a proxied
request arrives with the absolute URL in its request line), a real CONNECT proxy tunnels HTTPS
calls to a TLS server whose self-signed certificate only a CA bundle made here trusts.
"""

from __future__ import annotations

import selectors
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests._scripted_server import Reply, ScriptedServer
from verigator_nb import errors
from verigator_nb.client import Api

PASSWORD = "pw-Z9q-secret"
PIN = "493817"
VERIFIED_TOTP = b'{"method": "totp", "verified": true, "status": {"result": "VERIFIED"}}'
AUTH_PATH = "/v1/service/service/s/users/u/auth"

_SETTINGS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
_CA_SETTINGS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no proxy, CA bundle or .netrc setting (the machine may set some)."""
    for name in _SETTINGS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name in _CA_SETTINGS:
        monkeypatch.delenv(name, raising=False)


def _api(url: str, **kwargs: Any) -> Api:
    return Api("acct", PASSWORD, url, timeout=(2, 2), retries=0, **kwargs)


def _set(monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], proxy_url: str) -> None:
    """Replace every proxy setting by ``settings`` (``PROXY`` standing for ``proxy_url``)."""
    for name in (*_SETTINGS, *(name.lower() for name in _SETTINGS)):
        monkeypatch.delenv(name, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, proxy_url if value == PROXY else value)


# -- plain HTTP through a proxy ----------------------------------------------------------------

PROXY = "<proxy>"
CASES = [
    pytest.param({"HTTP_PROXY": PROXY}, {}, True, id="proxy-unset-after"),
    pytest.param({}, {"HTTP_PROXY": PROXY}, False, id="proxy-set-after"),
    pytest.param({"http_proxy": PROXY}, {"NO_PROXY": "127.0.0.1"}, True, id="lower-case"),
    pytest.param({"ALL_PROXY": PROXY}, {}, True, id="all-proxy"),
    pytest.param({"HTTP_PROXY": PROXY, "NO_PROXY": "127.0.0.1"}, {"HTTP_PROXY": PROXY}, False,
                 id="no-proxy-covers-the-host"),
    pytest.param({"HTTP_PROXY": PROXY, "no_proxy": "example.com,127.0.0.0/8"},
                 {"HTTP_PROXY": PROXY}, False, id="no-proxy-cidr"),
    pytest.param({"HTTP_PROXY": PROXY, "NO_PROXY": "example.com"}, {}, True,
                 id="no-proxy-for-other-hosts"),
]  # fmt: skip


@pytest.mark.parametrize(("at_creation", "afterwards", "proxied"), CASES)
def test_proxy_settings_are_those_of_the_environment_when_the_api_was_made(
    monkeypatch: pytest.MonkeyPatch,
    at_creation: dict[str, str],
    afterwards: dict[str, str],
    proxied: bool,
) -> None:
    with ScriptedServer([Reply(200, VERIFIED_TOTP)]) as proxy:
        with ScriptedServer([Reply(200, VERIFIED_TOTP)]) as origin:
            _set(monkeypatch, at_creation, proxy.url)
            api = _api(origin.url)
            assert api.auth.verify("s", "u", PIN).verified
            _set(monkeypatch, afterwards, proxy.url)
            assert api.auth.verify("s", "u", PIN).verified
            with api.fork() as twin:
                assert twin.auth.verify("s", "u", PIN).verified
            api.close()
    via, direct = (proxy, origin) if proxied else (origin, proxy)
    assert [seen.method for seen in via.seen] == ["PUT"] * 3, "the calls did not all go one way"
    assert direct.seen == []
    expected = origin.url + AUTH_PATH if proxied else AUTH_PATH
    assert [seen.path for seen in via.seen] == [expected] * 3
    assert via.seen[0].headers["X-Service-Auth"] == f"acct:{PASSWORD}"


def test_a_session_passed_in_keeps_its_own_trust_env_and_reads_the_environment_per_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = requests.Session()
    with ScriptedServer([Reply(200, VERIFIED_TOTP)]) as proxy:
        with ScriptedServer([Reply(200, VERIFIED_TOTP)]) as origin:
            api = _api(origin.url, session=session)
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            assert api.auth.verify("s", "u", PIN).verified
    assert session.trust_env is True
    assert origin.seen == [] and [seen.path for seen in proxy.seen] == [origin.url + AUTH_PATH]


def test_a_fork_keeps_a_passed_in_sessions_settings_on_a_copy_of_its_own() -> None:
    session = requests.Session()
    session.headers["X-Trace"] = "parent"
    with ScriptedServer([Reply(200, VERIFIED_TOTP)] * 2) as origin:
        api = _api(origin.url, session=session)
        with api.fork() as twin:
            session.headers["X-Trace"] = "changed after the fork"
            assert twin.auth.verify("s", "u", PIN).verified
        assert api.auth.verify("s", "u", PIN).verified
    assert [seen.headers["X-Trace"] for seen in origin.seen] == [
        "parent",
        "changed after the fork",
    ]


def test_a_netrc_entry_for_the_endpoint_is_never_sent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-Q7\n")
    monkeypatch.setenv("NETRC", str(netrc))
    with ScriptedServer([Reply(200, VERIFIED_TOTP)]) as origin:
        assert _api(origin.url).auth.verify("s", "u", PIN).verified
    assert "Authorization" not in origin.seen[0].headers
    assert origin.seen[0].headers["X-Service-Auth"] == f"acct:{PASSWORD}"


def test_an_unreachable_proxy_is_a_connection_error_that_never_shows_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://proxy-user:proxy-Q7@127.0.0.1:{port}")
    with ScriptedServer([Reply(200, VERIFIED_TOTP)]) as origin:
        with pytest.raises(errors.ConnectionFailedError) as caught:
            _api(origin.url).auth.verify("s", "u", PIN)
    assert origin.seen == []
    assert "proxy" in str(caught.value)
    shown = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
    assert "proxy-Q7" not in shown and PIN not in shown and PASSWORD not in shown


# -- HTTPS: a CONNECT tunnel and a CA bundle ---------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key: trusted only where named."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.calls += 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(VERIFIED_TOTP)))
        self.end_headers()
        self.wfile.write(VERIFIED_TOTP)

    def log_message(self, *args: object) -> None:
        pass


class _TLSServer(ThreadingHTTPServer):
    """A real HTTPS server on 127.0.0.1 answering every PUT with a verified TOTP."""

    daemon_threads = True

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Answer)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.calls = 0
        self.url = f"https://127.0.0.1:{self.server_address[1]}"

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()  # the handshake happens in the handler's thread
        return self.context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        ), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client refusing the certificate is what some tests are about


class _Tunnel(socketserver.ThreadingTCPServer):
    """A real HTTPS proxy: answers ``CONNECT host:port``, then relays bytes both ways."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _TunnelHandler)
        self.targets: list[str] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _TunnelHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        self.server.targets.append(f"{method} {target}")  # type: ignore[attr-defined]
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _relay(self.request, upstream)


def _relay(one: socket.socket, other: socket.socket) -> None:
    with selectors.DefaultSelector() as selector:
        selector.register(one, selectors.EVENT_READ, other)
        selector.register(other, selectors.EVENT_READ, one)
        while events := selector.select(timeout=5):
            for key, _ in events:
                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                if not data:
                    return
                key.data.sendall(data)


def _serving(server: socketserver.BaseServer) -> Iterator[Any]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[_TLSServer]:
    yield from _serving(_TLSServer(*certificate))


@pytest.fixture
def tunnel() -> Iterator[_Tunnel]:
    yield from _serving(_Tunnel())


def test_https_calls_tunnel_through_the_proxy_and_trust_the_bundle_set_at_creation(
    monkeypatch: pytest.MonkeyPatch,
    certificate: tuple[Path, Path],
    tls_server: _TLSServer,
    tunnel: _Tunnel,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", tunnel.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    with _api(tls_server.url) as api:
        assert api.auth.verify("s", "u", PIN).verified
        monkeypatch.delenv("HTTPS_PROXY")
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # requests would fall back on certifi's bundle
        assert api.auth.verify("s", "u", PIN).verified
        with api.fork() as twin:
            assert twin.auth.verify("s", "u", PIN).verified
    assert tunnel.targets == [f"CONNECT 127.0.0.1:{tls_server.server_address[1]}"] * 2
    assert tls_server.calls == 3


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_the_ca_bundle_named_at_creation_is_trusted(
    monkeypatch: pytest.MonkeyPatch,
    certificate: tuple[Path, Path],
    tls_server: _TLSServer,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, str(certificate[0]))
    with _api(tls_server.url) as api:
        assert api.auth.verify("s", "u", PIN).verified
    assert tls_server.calls == 1


def test_a_ca_bundle_named_after_creation_is_not_used_and_the_error_says_tls(
    monkeypatch: pytest.MonkeyPatch, certificate: tuple[Path, Path], tls_server: _TLSServer
) -> None:
    with _api(tls_server.url) as api:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
        with pytest.raises(errors.ConnectionFailedError) as caught:
            api.auth.verify("s", "u", PIN)
    assert tls_server.calls == 0
    assert "TLS" in str(caught.value)
    shown = "".join(traceback.format_exception(caught.value))
    assert PIN not in shown and PASSWORD not in shown
