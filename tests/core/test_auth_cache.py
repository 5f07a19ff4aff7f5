"""The client-authentication cache (core/client_auth/_cache.py) through authenticate_client."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from provider_fakes import (
    DictClientStore,
    EventLog,
    ScriptedJwksFetcher,
    jwks_of,
    peer_of,
    self_signed_client,
    tls_client,
    token_request,
)

from certbound.core.client_auth import (
    AuthenticatedClient,
    AuthenticationCache,
    CachingClientStore,
    authenticate_client,
)
from certbound.core.clients import Client
from certbound.core.errors import InvalidClientError
from certbound.core.events import ClientAuthenticated, ClientAuthFailed
from certbound.core.form import parse_form
from certbound.core.mtls.certificate import CertificateSource, PeerCertificate
from certbound.core.mtls.verification import ChainVerifier, TrustStore, VerifiedChain
from testpki import NOW

JWKS_URI = "https://client.example.com/jwks.json"


class CountingVerifier(ChainVerifier):
    """The real chain verifier, counting its calls."""

    __slots__ = ("calls",)

    def __init__(self, store: TrustStore) -> None:
        super().__init__(store)
        self.calls = 0

    def verify(self, peer: PeerCertificate, *, at: dt.datetime | None = None) -> VerifiedChain:
        self.calls += 1
        return super().verify(peer, at=at)


class CountingStore(DictClientStore):
    """DictClientStore counting reads; ``sneak_update`` changes a client as another process would
    (bumping the revision without telling any cache)."""

    def __init__(self, *clients: Client) -> None:
        super().__init__(*clients)
        self.gets = 0
        self.revision_reads = 0

    async def get(self, client_id: str) -> Client | None:
        self.gets += 1
        return await super().get(client_id)

    async def revision(self) -> int:
        self.revision_reads += 1
        return await super().revision()

    def sneak_update(self, client: Client) -> None:
        self._clients[client.client_id] = client
        self._revision += 1


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def verifier(pki: Any) -> CountingVerifier:
    return CountingVerifier(TrustStore.from_pem(pki.root.pem))


@pytest.fixture
def clock() -> Monotonic:
    return Monotonic()


def caching(store: CountingStore, clock: Monotonic, **options: Any) -> CachingClientStore:
    return CachingClientStore(store, AuthenticationCache(monotonic=clock, **options))


async def auth(
    clients: Any,
    peer: PeerCertificate | None,
    verifier: ChainVerifier,
    *,
    client_id: str = "client-1",
    now: dt.datetime = NOW,
    events: EventLog | None = None,
    fetcher: ScriptedJwksFetcher | None = None,
) -> AuthenticatedClient:
    request = token_request(f"grant_type=client_credentials&client_id={client_id}", peer=peer)
    return await authenticate_client(
        parse_form(request.body),
        request,
        clients=clients,
        verifier=verifier,
        jwks_fetcher=fetcher or ScriptedJwksFetcher({"keys": []}),
        events=events or EventLog(),
        now=now,
    )


async def test_a_repeated_chain_is_neither_looked_up_nor_validated_again(pki, verifier, clock):
    store = CountingStore(tls_client())
    clients, events = caching(store, clock), EventLog()
    for _ in range(3):
        result = await auth(clients, peer_of(pki.client), verifier, events=events)
        assert result.client.client_id == "client-1"
        assert result.method == "tls_client_auth"
    assert (verifier.calls, store.gets, store.revision_reads) == (1, 1, 1)
    assert len(events.of(ClientAuthenticated)) == 3  # every request is still audited


async def test_the_same_leaf_with_another_chain_is_validated_again(pki, verifier, clock):
    clients = caching(CountingStore(tls_client()), clock)
    await auth(clients, peer_of(pki.client), verifier)
    leaf_only = PeerCertificate((pki.client.cert,), CertificateSource.TLS)
    with pytest.raises(InvalidClientError):
        await auth(clients, leaf_only, verifier)  # the intermediate is missing: chain_incomplete
    assert verifier.calls == 2


async def test_a_change_made_through_the_store_applies_at_once(pki, verifier, clock):
    clients = caching(CountingStore(tls_client()), clock)
    await auth(clients, peer_of(pki.client), verifier)
    await clients.update(tls_client(tls_client_auth_subject_dn="CN=someone else"))
    with pytest.raises(InvalidClientError):
        await auth(clients, peer_of(pki.client), verifier)
    assert await clients.remove("client-1")
    with pytest.raises(InvalidClientError):
        await auth(clients, peer_of(pki.client), verifier)
    await clients.add(tls_client())
    assert (await auth(clients, peer_of(pki.client), verifier)).client.client_id == "client-1"


async def test_a_change_by_another_process_applies_after_the_revision_ttl(pki, verifier, clock):
    store = CountingStore(tls_client())
    clients = caching(store, clock, revision_ttl=1.0)
    await auth(clients, peer_of(pki.client), verifier)
    store.sneak_update(tls_client(tls_client_auth_subject_dn="CN=someone else"))
    clock.now += 0.5
    await auth(clients, peer_of(pki.client), verifier)  # within the TTL: the cached answer
    clock.now += 0.6
    with pytest.raises(InvalidClientError):
        await auth(clients, peer_of(pki.client), verifier)
    assert store.revision_reads == 2


async def test_a_new_verifier_validates_again(pki, verifier, clock):
    clients = caching(CountingStore(tls_client()), clock)
    await auth(clients, peer_of(pki.client), verifier)
    reloaded = CountingVerifier(TrustStore.from_pem(pki.root.pem))
    await auth(clients, peer_of(pki.client), reloaded)
    assert (verifier.calls, reloaded.calls) == (1, 1)


async def test_an_answer_never_outlives_the_certificate(pki, verifier, clock):
    clients = caching(CountingStore(tls_client()), clock, max_age=10 * 365 * 86400.0)
    await auth(clients, peer_of(pki.client), verifier)
    after_expiry = pki.client.cert.not_valid_after_utc + dt.timedelta(seconds=1)
    with pytest.raises(InvalidClientError):
        await auth(clients, peer_of(pki.client), verifier, now=after_expiry)
    assert verifier.calls == 2


async def test_an_answer_is_reused_for_max_age_seconds_only(pki, verifier, clock):
    clients = caching(CountingStore(tls_client()), clock, max_age=60.0)
    await auth(clients, peer_of(pki.client), verifier)
    await auth(clients, peer_of(pki.client), verifier, now=NOW + dt.timedelta(seconds=59))
    await auth(clients, peer_of(pki.client), verifier, now=NOW + dt.timedelta(seconds=61))
    assert verifier.calls == 2


async def test_failures_are_not_cached(pki, verifier, clock):
    clients, events = caching(CountingStore(tls_client()), clock), EventLog()
    for _ in range(2):
        with pytest.raises(InvalidClientError):
            await auth(clients, peer_of(pki.other_client), verifier, events=events)
    assert verifier.calls == 2
    assert [e.reason for e in events.of(ClientAuthFailed)] == ["subject_mismatch"] * 2


async def test_an_unknown_client_id_is_remembered_until_the_revision_changes(pki, verifier, clock):
    store = CountingStore()
    clients = caching(store, clock)
    for _ in range(2):
        with pytest.raises(InvalidClientError):
            await auth(clients, peer_of(pki.client), verifier)
    assert store.gets == 1
    await clients.add(tls_client())
    assert (await auth(clients, peer_of(pki.client), verifier)).client.client_id == "client-1"


async def test_self_signed_clients_with_inline_jwks_are_cached(pki, verifier, clock):
    client = self_signed_client(jwks=jwks_of(pki.self_signed.cert))
    store = CountingStore(client)
    clients = caching(store, clock)
    for _ in range(2):
        result = await auth(clients, peer_of(pki.self_signed), verifier, client_id="self-1")
        assert result.method == "self_signed_tls_client_auth"
    assert store.gets == 1


async def test_self_signed_clients_with_a_jwks_uri_are_checked_every_time(pki, verifier, clock):
    fetcher = ScriptedJwksFetcher(jwks_of(pki.self_signed.cert), {"keys": []})
    clients = caching(CountingStore(self_signed_client(jwks_uri=JWKS_URI)), clock)
    await auth(clients, peer_of(pki.self_signed), verifier, client_id="self-1", fetcher=fetcher)
    with pytest.raises(InvalidClientError):  # the published set no longer holds the certificate
        await auth(clients, peer_of(pki.self_signed), verifier, client_id="self-1", fetcher=fetcher)


async def test_a_plain_store_uses_no_cache(pki, verifier):
    store = CountingStore(tls_client())
    for _ in range(2):
        await auth(store, peer_of(pki.client), verifier)
    assert (verifier.calls, store.gets, store.revision_reads) == (2, 2, 0)


async def test_the_cache_is_bounded(pki, verifier, clock):
    clients = [tls_client(f"c{i}") for i in range(3)]
    store = CountingStore(*clients)
    caching_store = caching(store, clock, max_entries=2)
    for client in clients:
        await auth(caching_store, peer_of(pki.client), verifier, client_id=client.client_id)
    await auth(caching_store, peer_of(pki.client), verifier, client_id="c0")
    assert store.gets == 4  # c0 was evicted by c2


async def test_an_invalidation_during_a_revision_read_is_not_lost(clock):
    store = CountingStore(tls_client())
    cache = AuthenticationCache(monotonic=clock)

    class Racing(CountingStore):
        async def revision(self) -> int:
            value = await super().revision()
            cache.invalidate()  # a write finished while this read was in flight
            return value

    racing = Racing(tls_client())
    assert await cache.revision(racing) == 0
    assert await cache.revision(store) == 0  # read again: the raced value was not kept
    assert store.revision_reads == 1


@pytest.mark.parametrize("options", [{"revision_ttl": -1.0}, {"max_age": 0.0}, {"max_entries": 0}])
def test_nonsensical_limits_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="required"):
        AuthenticationCache(**options)


async def test_list_and_revision_pass_through(clock):
    store = CountingStore(tls_client())
    clients = caching(store, clock)
    assert [c.client_id for c in await clients.list()] == ["client-1"]
    assert await clients.revision() == 0
