"""What the client costs per verify call, and what the sandbox costs per round trip.

Run: ``.venv/bin/python benchmarks/client_overhead.py [--calls N] [--rounds R]``

Table 1, all against one in-process sandbox, the same verify request each time
(``PUT .../auth`` with method totp for a user without an app: a full route through the
sandbox's rules that changes no state, so every call does the same work):

- ``api.auth.verify``              this project's client;
- ``Session.put``                  bare requests with one keep-alive Session and its default
                                   settings: what a requests-based client costs as usually
                                   written (requests reads proxy, CA and .netrc settings from
                                   the environment on every call);
- ``Session.put, trust_env=False`` the same without reading the environment: the floor for
                                   any client that calls ``Session.request``;
- ``requests.request per call``    a new connection each call, what the official client does;
- ``http.client keep-alive``       the standard library's own client, for scale.

Table 2: the sandbox's verify round trip beside a minimal stdlib HTTP server that answers a
fixed JSON body (Nagle off, one write): the floor for a Python HTTP server on this machine.

Variants run interleaved in rounds, so drift on the machine hits all of them alike; the
figures are medians of per-call times. Targets: client <= 0.75x Session.put with default
settings (issue 14: it reads the environment once, when the ``Api`` is made, and prepares
calls without requests' per-call merging) and <= 0.75x the per-call-connection pattern;
sandbox <= 1.5x the minimal server. What reading the environment costs grows with its size
(requests scans every variable twice a call), so the variable count is printed too.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import requests
from _timing import time_calls

from verigator_nb.sandbox import Sandbox

FIXED_BODY = json.dumps(
    {"method": "totp", "verified": False, "status": {"result": "INVALID"}}
).encode()


class _MinimalHandler(BaseHTTPRequestHandler):
    """The least a Python HTTP/1.1 server can do: read the body, answer fixed JSON."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(FIXED_BODY)}\r\n\r\n"
        ).encode()
        self.wfile.write(head + FIXED_BODY)

    def log_message(self, *args: object) -> None:
        pass


def _http_client_put(
    url: str, path: str, body: bytes, headers: dict[str, str]
) -> Callable[[], object]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)

    def call() -> bytes:
        connection.request("PUT", path, body=body, headers=headers)
        return connection.getresponse().read()

    return call


def _run_rounds(
    variants: dict[str, Callable[[], object]], calls: int, rounds: int
) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for call in variants.values():
        time_calls(call, 50)  # warm up connections and caches
    for _ in range(rounds):
        for name, call in variants.items():
            samples[name] += time_calls(call, calls)
    return {name: statistics.median(values) * 1e6 for name, values in samples.items()}


def _print_table(title: str, medians: dict[str, float], baseline: str) -> None:
    print(f"\n{title}")
    print(f"{'variant':<34}{'median us':>12}   {'vs ' + baseline}")
    for name, value in medians.items():
        print(f"{name:<34}{value:>12.1f}   {value / medians[baseline]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per variant per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with Sandbox(seed=1) as sb, sb.api() as api:
        service = api.services.create("bench.example.com", "Bench")
        user = api.users.create(service.id, "+4401234567", "bench-user")
        path = f"/v1/service/service/{service.id}/users/{user.id}/auth"
        body = json.dumps({"method": "totp", "token": "123456"}).encode()
        headers = {
            "X-Service-Auth": "sandbox:sandbox",
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        session = requests.Session()
        bare = requests.Session()
        bare.trust_env = False
        url = sb.url + path
        client_table = _run_rounds(
            {
                "api.auth.verify": lambda: api.auth.verify(service.id, user.id, "123456"),
                "Session.put": lambda: session.put(url, data=body, headers=headers),
                "Session.put, trust_env=False": lambda: bare.put(url, data=body, headers=headers),
                "requests.request per call": lambda: requests.request(
                    "PUT", url, data=body, headers=headers, timeout=10
                ),
                "http.client keep-alive": _http_client_put(sb.url, path, body, headers),
            },
            args.calls,
            args.rounds,
        )
        minimal = ThreadingHTTPServer(("127.0.0.1", 0), _MinimalHandler)
        threading.Thread(target=minimal.serve_forever, daemon=True).start()
        minimal_url = f"http://127.0.0.1:{minimal.server_address[1]}"
        server_table = _run_rounds(
            {
                "sandbox verify round trip": _http_client_put(sb.url, path, body, headers),
                "minimal stdlib server (floor)": _http_client_put(minimal_url, path, body, headers),
            },
            args.calls,
            args.rounds,
        )
        minimal.shutdown()

    _print_table("Client cost per verify call", client_table, "Session.put")
    print(f"({len(os.environ)} environment variables)")
    client = client_table["api.auth.verify"]
    for baseline, target in (
        ("Session.put", "target <= 0.75x"),
        ("Session.put, trust_env=False", "the floor for Session.request"),
        ("requests.request per call", "target <= 0.75x"),
    ):
        print(f"api.auth.verify vs {baseline}: {client / client_table[baseline]:.2f}x ({target})")
    _print_table("Server cost per verify round trip", server_table, "minimal stdlib server (floor)")


if __name__ == "__main__":
    main()
