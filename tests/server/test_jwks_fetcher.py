"""HttpJwksFetcher against a real HTTPS server on 127.0.0.1 (test-PKI server certificate)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from certbound.server.jwks_fetcher import (
    HttpJwksFetcher,
    HttpJwksFetchError,
    JwksFetchFailure,
    _max_age,
)
from testpki import make_server

JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "x5c": ["AAAA"]}]}


@dataclass
class Reply:
    status: int = 200
    body: bytes = json.dumps(JWKS).encode()
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    content_length: bool = True
    delay: float = 0.0
    hang_up: bool = False  # close the connection without answering


class JwksServer:
    """A minimal HTTP/1.1 server over TLS: answers every request with ``reply``, one per connection."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.reply = Reply()
        self.requests: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def url(self, host: str = "jwks.test", path: str = "/jwks.json") -> str:
        return f"https://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head.decode("latin-1"))
            reply = self.reply
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.hang_up:
                return
            headers = {**reply.headers, "Connection": "close"}
            if reply.content_length:
                headers["Content-Length"] = str(len(reply.body))
            lines = [f"HTTP/1.1 {reply.status} X"] + [f"{k}: {v}" for k, v in headers.items()]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + reply.body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, asyncio.CancelledError):
                await writer.wait_closed()
            self._tasks.discard(task)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def resolver_for(mapping: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return mapping[host]

    return resolve


LOCAL = resolver_for({"jwks.test": ["127.0.0.1"], "wrong.test": ["127.0.0.1"]})


@pytest.fixture(scope="module")
def tls_files(pki: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    server = make_server(pki.intermediate, hosts=("jwks.test", "localhost"), ips=("127.0.0.1",))
    return server.write(tmp_path_factory.mktemp("jwks-tls"), "server")


@pytest.fixture
def client_context(pki: Any) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=pki.root.pem.decode("ascii"))


@pytest.fixture
async def server(tls_files: tuple[Path, Path]) -> AsyncIterator[JwksServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    srv = JwksServer(context)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def fetcher(
    client_context: ssl.SSLContext, clock: FakeClock
) -> AsyncIterator[HttpJwksFetcher]:
    async with HttpJwksFetcher(
        allow_private=True, verify=client_context, clock=clock, resolver=LOCAL, timeout=2.0
    ) as f:
        yield f


async def failure(fetch: Awaitable[Any], reason: JwksFetchFailure) -> HttpJwksFetchError:
    with pytest.raises(HttpJwksFetchError) as caught:
        await fetch
    assert caught.value.reason == reason
    assert str(caught.value).startswith(f"{reason}: ")
    return caught.value


# --- fetching ------------------------------------------------------------------------------------


async def test_fetches_a_jwk_set_over_https_by_host_name(
    server: JwksServer, fetcher: HttpJwksFetcher
) -> None:
    document = await fetcher.fetch(server.url())
    assert dict(document) == JWKS
    (request,) = server.requests
    assert request.startswith("GET /jwks.json HTTP/1.1\r\n")
    assert f"host: jwks.test:{server.port}\r\n" in request.lower()  # the name, not the IP
    assert "accept-encoding: identity\r\n" in request.lower()


async def test_certificate_is_checked_against_the_host_name_not_the_ip(
    server: JwksServer, fetcher: HttpJwksFetcher
) -> None:
    # wrong.test resolves to the same 127.0.0.1, but the server certificate does not name it.
    error = await failure(fetcher.fetch(server.url("wrong.test")), JwksFetchFailure.CONNECT_FAILED)
    assert "certificate" in str(error).lower()
    assert server.requests == []


async def test_untrusted_server_certificate_is_refused(
    server: JwksServer, clock: FakeClock
) -> None:
    async with HttpJwksFetcher(allow_private=True, clock=clock, resolver=LOCAL) as system_trust:
        await failure(system_trust.fetch(server.url()), JwksFetchFailure.CONNECT_FAILED)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(status=404, body=b"not found"), JwksFetchFailure.HTTP_STATUS),
        (
            Reply(status=302, body=b"", headers={"Location": "https://10.0.0.1/"}),
            JwksFetchFailure.HTTP_STATUS,
        ),
        (Reply(body=b"<html>nope</html>"), JwksFetchFailure.NOT_JSON),
        (Reply(body=b"\xff\xfe{}"), JwksFetchFailure.NOT_JSON),
        (Reply(body=b'{"keys": {}}'), JwksFetchFailure.NOT_JWKS),
        (Reply(body=b"[1, 2]"), JwksFetchFailure.NOT_JWKS),
        (Reply(headers={"Content-Encoding": "gzip"}), JwksFetchFailure.CONTENT_ENCODING),
        (Reply(body=b"{" + b" " * 70_000 + b"}"), JwksFetchFailure.TOO_LARGE),
        (Reply(body=b"{" + b" " * 70_000 + b"}", content_length=False), JwksFetchFailure.TOO_LARGE),
    ],
)
async def test_a_bad_answer_is_refused(
    server: JwksServer, fetcher: HttpJwksFetcher, reply: Reply, reason: JwksFetchFailure
) -> None:
    server.reply = reply
    await failure(fetcher.fetch(server.url()), reason)
    assert len(server.requests) == 1  # the redirect was not followed


async def test_body_just_under_the_limit_is_accepted(
    server: JwksServer, fetcher: HttpJwksFetcher
) -> None:
    body = json.dumps(JWKS).encode()
    server.reply = Reply(body=body + b" " * (64 * 1024 - len(body)), content_length=False)
    assert dict(await fetcher.fetch(server.url())) == JWKS


async def test_a_slow_server_times_out(
    server: JwksServer, client_context: ssl.SSLContext, clock: FakeClock
) -> None:
    server.reply = Reply(delay=5.0)
    async with HttpJwksFetcher(
        allow_private=True, verify=client_context, clock=clock, resolver=LOCAL, timeout=0.3
    ) as quick:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await failure(quick.fetch(server.url()), JwksFetchFailure.TIMEOUT)
        assert loop.time() - started < 2.0


async def test_slow_name_resolution_counts_against_the_total_timeout(
    client_context: ssl.SSLContext, clock: FakeClock
) -> None:
    async def stalling(host: str, port: int) -> list[str]:
        await asyncio.sleep(5)
        return ["93.184.215.14"]

    async with HttpJwksFetcher(
        verify=client_context, clock=clock, resolver=stalling, timeout=0.2
    ) as f:
        await failure(f.fetch("https://slow-dns.test/jwks.json"), JwksFetchFailure.TIMEOUT)


async def test_server_closing_without_an_answer_is_a_transport_failure(
    server: JwksServer, fetcher: HttpJwksFetcher
) -> None:
    server.reply = Reply(hang_up=True)
    error = await failure(fetcher.fetch(server.url()), JwksFetchFailure.TRANSPORT)
    assert "RemoteProtocolError" in str(error)


async def test_next_address_is_tried_when_one_refuses(
    server: JwksServer, client_context: ssl.SSLContext, clock: FakeClock
) -> None:
    resolve = resolver_for({"jwks.test": ["127.0.0.2", "127.0.0.1"]})  # nothing listens on .2
    async with HttpJwksFetcher(
        allow_private=True, verify=client_context, clock=clock, resolver=resolve
    ) as f:
        assert dict(await f.fetch(server.url())) == JWKS
    assert len(server.requests) == 1


async def test_closed_port_is_connect_failed(fetcher: HttpJwksFetcher) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    await failure(fetcher.fetch(f"https://jwks.test:{port}/"), JwksFetchFailure.CONNECT_FAILED)


# --- what is refused before any connection -------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://jwks.test/jwks.json", JwksFetchFailure.NOT_HTTPS),
        ("file:///etc/passwd", JwksFetchFailure.NOT_HTTPS),
        ("https://user:pw@jwks.test/jwks.json", JwksFetchFailure.INVALID_URI),
        ("https:///jwks.json", JwksFetchFailure.INVALID_URI),
        ("https://jwks.test:99999/", JwksFetchFailure.INVALID_URI),
        ("https://nowhere.test/jwks.json", JwksFetchFailure.RESOLVE_FAILED),
    ],
)
async def test_unusable_uri_is_refused(
    fetcher: HttpJwksFetcher, uri: str, reason: JwksFetchFailure
) -> None:
    await failure(fetcher.fetch(uri), reason)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_is_refused_unless_private_addresses_are_allowed(
    server: JwksServer, client_context: ssl.SSLContext, host: str
) -> None:
    async with HttpJwksFetcher(verify=client_context) as strict:  # the real resolver
        error = await failure(strict.fetch(server.url(host)), JwksFetchFailure.PRIVATE_ADDRESS)
    assert "127.0.0.1" in str(error)
    assert server.requests == []
    async with HttpJwksFetcher(verify=client_context, allow_private=True) as lab:
        assert dict(await lab.fetch(server.url("127.0.0.1"))) == JWKS


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.1.2.3"],
        ["192.168.1.1"],
        ["169.254.169.254"],  # cloud metadata (link-local)
        ["0.0.0.0"],
        ["100.64.0.1"],  # shared address space
        ["::1"],
        ["fe80::1"],
        ["fd00::1"],
        ["::ffff:127.0.0.1"],  # IPv4-mapped loopback
        ["224.0.0.1"],
        ["93.184.215.14", "10.0.0.1"],  # one private answer is enough
    ],
)
async def test_non_public_addresses_are_refused(
    client_context: ssl.SSLContext, clock: FakeClock, addresses: list[str]
) -> None:
    resolve = resolver_for({"evil.test": addresses})
    async with HttpJwksFetcher(verify=client_context, clock=clock, resolver=resolve) as strict:
        await failure(strict.fetch("https://evil.test/jwks.json"), JwksFetchFailure.PRIVATE_ADDRESS)


async def test_empty_resolution_is_resolve_failed(
    client_context: ssl.SSLContext, clock: FakeClock
) -> None:
    resolve = resolver_for({"empty.test": []})
    async with HttpJwksFetcher(verify=client_context, clock=clock, resolver=resolve) as f:
        await failure(f.fetch("https://empty.test/"), JwksFetchFailure.RESOLVE_FAILED)


# --- caching -------------------------------------------------------------------------------------


async def test_cached_set_is_served_until_it_expires(
    server: JwksServer, fetcher: HttpJwksFetcher, clock: FakeClock
) -> None:
    url = server.url()
    await fetcher.fetch(url)
    clock.now += 299
    await fetcher.fetch(url)
    assert len(server.requests) == 1  # default 5 minutes
    clock.now += 2
    await fetcher.fetch(url)
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("cache_control", "fresh", "stale"),
    [
        ("public, max-age=3600", 3599, 3601),
        ("max-age=5", 59, 61),  # floor: 60 s
        ("max-age=999999", 86399, 86401),  # ceiling: 24 h
        ("no-store", 59, 61),
    ],
)
async def test_cache_lifetime_follows_max_age_within_bounds(
    server: JwksServer,
    fetcher: HttpJwksFetcher,
    clock: FakeClock,
    cache_control: str,
    fresh: int,
    stale: int,
) -> None:
    server.reply = Reply(
        headers={"Content-Type": "application/json", "Cache-Control": cache_control}
    )
    start = clock.now
    await fetcher.fetch(server.url())
    clock.now = start + fresh
    await fetcher.fetch(server.url())
    assert len(server.requests) == 1
    clock.now = start + stale
    await fetcher.fetch(server.url())
    assert len(server.requests) == 2


def test_max_age_parsing() -> None:
    assert _max_age(None) == 300
    assert _max_age("max-age=120") == 120
    assert _max_age('MAX-AGE="90", public') == 90
    assert _max_age("max-age=soon") == 300
    assert _max_age("private, no-cache") == 60


async def test_forced_refetch_is_rate_limited_per_uri(
    server: JwksServer, fetcher: HttpJwksFetcher, clock: FakeClock
) -> None:
    url = server.url()
    await fetcher.fetch(url)
    await fetcher.fetch(url, force=True)
    await fetcher.fetch(url, force=True)
    assert len(server.requests) == 1  # within 30 s of the last fetch: the cached set
    clock.now += 31
    rotated = {"keys": [*JWKS["keys"], {"kty": "EC", "x5c": ["BBBB"]}]}
    server.reply = Reply(body=json.dumps(rotated).encode())
    assert dict(await fetcher.fetch(url, force=True)) == rotated
    assert len(server.requests) == 2
    await fetcher.fetch(server.url(path="/other.json"), force=True)  # another URI: its own budget
    assert len(server.requests) == 3


async def test_a_failure_is_remembered_for_the_refetch_interval(
    server: JwksServer, fetcher: HttpJwksFetcher, clock: FakeClock
) -> None:
    server.reply = Reply(status=500, body=b"")
    url = server.url()
    await failure(fetcher.fetch(url), JwksFetchFailure.HTTP_STATUS)
    await failure(fetcher.fetch(url, force=True), JwksFetchFailure.HTTP_STATUS)
    assert len(server.requests) == 1
    clock.now += 31
    server.reply = Reply()
    assert dict(await fetcher.fetch(url)) == JWKS
    assert len(server.requests) == 2


async def test_concurrent_fetches_of_one_uri_share_one_request(
    server: JwksServer, fetcher: HttpJwksFetcher
) -> None:
    server.reply = Reply(delay=0.2)
    results = await asyncio.gather(*(fetcher.fetch(server.url()) for _ in range(5)))
    assert all(dict(r) == JWKS for r in results)
    assert len(server.requests) == 1


async def test_concurrent_fetches_share_one_failure(
    server: JwksServer, fetcher: HttpJwksFetcher
) -> None:
    server.reply = Reply(status=503, body=b"", delay=0.2)
    results = await asyncio.gather(
        *(fetcher.fetch(server.url()) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, HttpJwksFetchError) for r in results)
    assert len(server.requests) == 1
