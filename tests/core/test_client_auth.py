"""RFC 8705 §2 client authentication: tls_client_auth (§2.1) and self_signed_tls_client_auth (§2.2)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography.x509.oid import NameOID
from provider_fakes import (
    DictClientStore,
    EventLog,
    ScriptedJwksFetcher,
    jwk_with_x5c,
    jwks_of,
    peer_of,
    self_signed_client,
    tls_client,
    token_request,
)

from certbound.core.client_auth import (
    PUBLIC_DESCRIPTION,
    AuthenticatedClient,
    AuthFailureReason,
    authenticate_client,
)
from certbound.core.client_auth.self_signed_tls_client_auth import registered_thumbprints
from certbound.core.clients import Client
from certbound.core.errors import InvalidClientError, InvalidRequestError
from certbound.core.events import ClientAuthenticated, ClientAuthFailed
from certbound.core.form import parse_form
from certbound.core.messages import Request
from certbound.core.mtls.certificate import PeerCertificate, x5t_s256
from certbound.core.mtls.verification import ChainVerifier, TrustStore
from certbound.core.ports import JwksFetchError
from testpki import NOW, Issued, make_leaf, name

JWKS_URI = "https://client.example.com/jwks.json"


@pytest.fixture
def verifier(pki: Any) -> ChainVerifier:
    return ChainVerifier(TrustStore.from_pem(pki.root.pem))


async def authenticate(
    request: Request,
    *clients: Client,
    verifier: ChainVerifier,
    events: EventLog | None = None,
    fetcher: ScriptedJwksFetcher | None = None,
    now: dt.datetime = NOW,
    allowed: tuple[str, ...] = ("tls_client_auth", "self_signed_tls_client_auth"),
) -> AuthenticatedClient:
    return await authenticate_client(
        parse_form(request.body),
        request,
        clients=DictClientStore(*clients),
        verifier=verifier,
        jwks_fetcher=fetcher or ScriptedJwksFetcher(JwksFetchError("no jwks_uri in this test")),
        events=events if events is not None else EventLog(),
        now=now,
        allowed_methods=allowed,
    )


def body_for(client_id: str) -> str:
    return f"grant_type=client_credentials&client_id={client_id}"


async def refused(
    request: Request, *clients: Client, verifier: ChainVerifier, **kwargs: Any
) -> tuple[InvalidClientError, ClientAuthFailed]:
    """Authenticate expecting invalid_client; return the error and the one failure event."""
    events = EventLog()
    with pytest.raises(InvalidClientError) as caught:
        await authenticate(request, *clients, verifier=verifier, events=events, **kwargs)
    error = caught.value
    assert error.body() == {"error": "invalid_client", "error_description": PUBLIC_DESCRIPTION}
    assert error.status_code == 401
    (event,) = events.events
    assert isinstance(event, ClientAuthFailed)
    assert event.detail == error.detail
    return error, event


# --- tls_client_auth (§2.1) --------------------------------------------------------------------


async def test_tls_client_auth_accepts_registered_subject_dn(
    pki: Any, verifier: ChainVerifier
) -> None:
    events = EventLog()
    peer = peer_of(pki.client)
    result = await authenticate(
        token_request(peer=peer), tls_client(), verifier=verifier, events=events
    )
    assert result.client.client_id == "client-1"
    assert result.method == "tls_client_auth"
    assert result.peer is peer
    assert events.events == [ClientAuthenticated("client-1", "tls_client_auth", peer.thumbprint)]


@pytest.mark.parametrize(
    "registered",
    [
        "CN=client-1",  # the CN alone
        "CN=client-1,O=certbound tests,C=DE",  # a superset of the RDNs
        "O=certbound tests,CN=client-1",  # the same RDNs in another order
        "CN=client-10,O=certbound tests",  # a DN that merely starts with the certificate's
    ],
)
async def test_tls_client_auth_refuses_dn_that_is_not_the_whole_subject(
    pki: Any, verifier: ChainVerifier, registered: str
) -> None:
    client = tls_client(tls_client_auth_subject_dn=registered)
    error, event = await refused(token_request(peer=peer_of(pki.client)), client, verifier=verifier)
    assert event.reason == AuthFailureReason.SUBJECT_MISMATCH
    assert "tls_client_auth_subject_dn" in (error.detail or "")


async def test_tls_client_auth_refuses_certificate_of_another_client(
    pki: Any, verifier: ChainVerifier
) -> None:
    request = token_request(peer=peer_of(pki.other_client))  # CN=client-2, same CA
    error, event = await refused(request, tls_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.SUBJECT_MISMATCH
    assert event.client_id == "client-1"
    assert event.method == "tls_client_auth"
    assert event.cert_thumbprint == x5t_s256(pki.other_client.cert)
    assert "CN=client-2" in (error.detail or "")


@pytest.fixture(scope="module")
def san_leaf(pki: Any) -> Issued:
    return make_leaf(
        pki.intermediate,
        "service",
        dns=("svc.example.com",),
        uris=("spiffe://example.com/ns/prod/sa/billing",),
        ips=("192.0.2.10", "2001:db8::10"),
        emails=("Ops@Example.com",),
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tls_client_auth_san_dns", "svc.example.com"),
        ("tls_client_auth_san_dns", "SVC.Example.COM"),
        ("tls_client_auth_san_uri", "spiffe://example.com/ns/prod/sa/billing"),
        ("tls_client_auth_san_ip", "192.0.2.10"),
        ("tls_client_auth_san_ip", "2001:0db8:0:0::10"),
        ("tls_client_auth_san_email", "Ops@example.com"),
    ],
)
async def test_tls_client_auth_accepts_each_registered_san_type(
    san_leaf: Issued, verifier: ChainVerifier, field: str, value: str
) -> None:
    result = await authenticate(
        token_request(peer=peer_of(san_leaf)), tls_client(**{field: value}), verifier=verifier
    )
    assert result.method == "tls_client_auth"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tls_client_auth_san_dns", "other.example.com"),
        ("tls_client_auth_san_dns", "spiffe://example.com/ns/prod/sa/billing"),  # a URI, not DNS
        ("tls_client_auth_san_uri", "spiffe://example.com/ns/prod/sa/billing2"),
        ("tls_client_auth_san_ip", "192.0.2.11"),
        ("tls_client_auth_san_email", "ops@example.com"),  # local part is case-sensitive
    ],
)
async def test_tls_client_auth_refuses_san_that_is_not_in_the_certificate(
    san_leaf: Issued, verifier: ChainVerifier, field: str, value: str
) -> None:
    request = token_request(peer=peer_of(san_leaf))
    error, event = await refused(request, tls_client(**{field: value}), verifier=verifier)
    assert event.reason == AuthFailureReason.SUBJECT_MISMATCH
    assert field in (error.detail or "")


@pytest.mark.parametrize(
    ("leaf", "reason"),
    [
        ("expired", "expired"),
        ("wrong_eku", "wrong_eku"),
        ("self_signed", "untrusted"),
        ("foreign_client", "chain_incomplete"),
    ],
)
async def test_tls_client_auth_refuses_a_chain_that_does_not_validate(
    pki: Any, verifier: ChainVerifier, leaf: str, reason: str
) -> None:
    issued: Issued = getattr(pki, leaf)
    client = tls_client(tls_client_auth_subject_dn=issued.cert.subject.rfc4514_string())
    error, event = await refused(token_request(peer=peer_of(issued)), client, verifier=verifier)
    assert event.reason == reason
    assert (error.detail or "").startswith(f"{reason}: ")


async def test_tls_client_auth_validates_the_chain_at_the_given_time(
    pki: Any, verifier: ChainVerifier
) -> None:
    later = NOW + dt.timedelta(days=60)  # pki.client is valid for 30 days
    request = token_request(peer=peer_of(pki.client))
    _, event = await refused(request, tls_client(), verifier=verifier, now=later)
    assert event.reason == "expired"


async def test_tls_client_auth_refuses_foreign_ca_even_with_matching_subject(
    pki: Any, verifier: ChainVerifier
) -> None:
    # foreign_client is "CN=client-1,O=certbound tests" too, issued by an untrusted root.
    assert pki.foreign_client.cert.subject == pki.client.cert.subject
    issued = pki.foreign_client
    chain = PeerCertificate((issued.cert, pki.foreign_root.cert), peer_of(issued).source)
    _, event = await refused(token_request(peer=chain), tls_client(), verifier=verifier)
    assert event.reason == "untrusted"


@pytest.mark.parametrize(
    "fields",
    [
        {"tls_client_auth_subject_dn": None},  # none registered (tls_client adds none)
        {
            "tls_client_auth_subject_dn": "CN=client-1,O=certbound tests",
            "tls_client_auth_san_dns": "client-1.example.com",
        },
    ],
)
async def test_tls_client_auth_fails_closed_without_exactly_one_registered_matcher(
    pki: Any, verifier: ChainVerifier, fields: dict[str, Any]
) -> None:
    client = tls_client(**fields)
    error, event = await refused(token_request(peer=peer_of(pki.client)), client, verifier=verifier)
    assert event.reason == AuthFailureReason.NO_SUBJECT_REGISTERED
    assert "exactly one" in (error.detail or "")


# --- failures common to every method -----------------------------------------------------------


async def test_unknown_client_is_invalid_client_with_the_common_description(
    pki: Any, verifier: ChainVerifier
) -> None:
    request = token_request(body_for("nobody"), peer=peer_of(pki.client))
    error, event = await refused(request, tls_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.UNKNOWN_CLIENT
    assert event.client_id == "nobody"
    assert event.method is None
    assert error.detail == "unknown client_id"
    assert error.headers() == {}


async def test_missing_client_id_is_invalid_request(pki: Any, verifier: ChainVerifier) -> None:
    events = EventLog()
    request = token_request("grant_type=client_credentials", peer=peer_of(pki.client))
    with pytest.raises(InvalidRequestError) as caught:
        await authenticate(request, tls_client(), verifier=verifier, events=events)
    assert caught.value.body()["error"] == "invalid_request"
    assert caught.value.detail == "no client_id"
    (event,) = events.of(ClientAuthFailed)
    assert event.reason == AuthFailureReason.MISSING_CLIENT_ID


async def test_repeated_client_id_is_invalid_request(pki: Any, verifier: ChainVerifier) -> None:
    request = token_request(
        "grant_type=client_credentials&client_id=client-1&client_id=client-2",
        peer=peer_of(pki.client),
    )
    with pytest.raises(InvalidRequestError, match="repeated"):
        await authenticate(request, tls_client(), verifier=verifier)


@pytest.mark.parametrize(
    ("extra", "method"),
    [
        ("&client_secret=s3cret", "client_secret_post"),
        ("&client_assertion=eyJ.x.y", "private_key_jwt"),
        (
            "&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "private_key_jwt",
        ),
    ],
)
async def test_other_method_in_the_form_is_refused(
    pki: Any, verifier: ChainVerifier, extra: str, method: str
) -> None:
    request = token_request(body_for("client-1") + extra, peer=peer_of(pki.client))
    error, event = await refused(request, tls_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.OTHER_METHOD_PRESENTED
    assert event.method == method
    assert (error.detail or "").startswith(method)
    assert error.headers() == {}


async def test_basic_authorization_header_is_refused_with_a_basic_challenge(
    pki: Any, verifier: ChainVerifier
) -> None:
    request = token_request(
        peer=peer_of(pki.client), headers={"authorization": "Basic Y2xpZW50LTE6czNjcmV0"}
    )
    error, event = await refused(request, tls_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.OTHER_METHOD_PRESENTED
    assert event.method == "client_secret_basic"
    assert error.used_basic
    assert error.headers() == {"WWW-Authenticate": 'Basic realm="certbound"'}


async def test_basic_header_is_refused_even_without_client_id(
    pki: Any, verifier: ChainVerifier
) -> None:
    request = token_request(
        "grant_type=client_credentials",
        peer=peer_of(pki.client),
        headers={"authorization": "basic Y2xpZW50LTE6czNjcmV0"},
    )
    error, _ = await refused(request, tls_client(), verifier=verifier)
    assert "WWW-Authenticate" in error.headers()


async def test_other_authorization_scheme_is_refused_without_basic_challenge(
    pki: Any, verifier: ChainVerifier
) -> None:
    request = token_request(peer=peer_of(pki.client), headers={"authorization": "Bearer abc"})
    error, event = await refused(request, tls_client(), verifier=verifier)
    assert event.method == "Authorization: bearer"
    assert error.headers() == {}


async def test_no_certificate_is_invalid_client(verifier: ChainVerifier) -> None:
    error, event = await refused(token_request(peer=None), tls_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.NO_CERTIFICATE
    assert error.detail == "no client certificate"
    assert event.cert_thumbprint is None


async def test_client_registered_with_a_non_mtls_method_is_refused(
    pki: Any, verifier: ChainVerifier
) -> None:
    client = Client(client_id="client-1", token_endpoint_auth_method="client_secret_basic")
    error, event = await refused(token_request(peer=peer_of(pki.client)), client, verifier=verifier)
    assert event.reason == AuthFailureReason.METHOD_NOT_ALLOWED
    assert "client_secret_basic" in (error.detail or "")


async def test_registered_method_disabled_on_the_server_is_refused(
    pki: Any, verifier: ChainVerifier
) -> None:
    client = self_signed_client("client-1", jwks=jwks_of(pki.self_signed.cert))
    request = token_request(peer=peer_of(pki.self_signed))
    _, event = await refused(request, client, verifier=verifier, allowed=("tls_client_auth",))
    assert event.reason == AuthFailureReason.METHOD_NOT_ALLOWED
    assert event.method == "self_signed_tls_client_auth"


# --- self_signed_tls_client_auth (§2.2) --------------------------------------------------------


async def test_self_signed_accepts_certificate_registered_in_jwks(
    pki: Any, verifier: ChainVerifier
) -> None:
    events = EventLog()
    client = self_signed_client(jwks=jwks_of(pki.other_client.cert, pki.self_signed.cert))
    request = token_request(body_for("self-1"), peer=peer_of(pki.self_signed))
    result = await authenticate(request, client, verifier=verifier, events=events)
    assert result.method == "self_signed_tls_client_auth"
    assert events.of(ClientAuthenticated)[0].cert_thumbprint == x5t_s256(pki.self_signed.cert)


async def test_self_signed_skips_chain_validation(verifier: ChainVerifier) -> None:
    # Not CA-issued, no EKU at all: §2.2 trusts the registration only.
    issued = make_leaf(None, "no-eku", eku=())
    client = self_signed_client(jwks=jwks_of(issued.cert))
    request = token_request(body_for("self-1"), peer=peer_of(issued))
    assert (await authenticate(request, client, verifier=verifier)).client.client_id == "self-1"


async def test_self_signed_refuses_same_subject_with_another_key(
    pki: Any, verifier: ChainVerifier
) -> None:
    impostor = make_leaf(None, pki.self_signed.cert.subject)  # same DN, other key and cert
    assert impostor.cert.subject == pki.self_signed.cert.subject
    client = self_signed_client(jwks=jwks_of(pki.self_signed.cert))
    request = token_request(body_for("self-1"), peer=peer_of(impostor))
    error, event = await refused(request, client, verifier=verifier)
    assert event.reason == AuthFailureReason.CERTIFICATE_NOT_REGISTERED
    assert x5t_s256(impostor.cert) in (error.detail or "")


async def test_self_signed_refuses_ca_issued_certificate_not_in_jwks(
    pki: Any, verifier: ChainVerifier
) -> None:
    client = self_signed_client(jwks=jwks_of(pki.self_signed.cert))
    request = token_request(body_for("self-1"), peer=peer_of(pki.client))  # valid PKI chain
    _, event = await refused(request, client, verifier=verifier)
    assert event.reason == AuthFailureReason.CERTIFICATE_NOT_REGISTERED


@pytest.mark.parametrize(
    ("not_before", "not_after", "state"),
    [
        (NOW - dt.timedelta(days=10), NOW - dt.timedelta(days=1), "expired"),
        (NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=10), "not yet valid"),
    ],
)
async def test_self_signed_refuses_registered_certificate_outside_its_validity(
    verifier: ChainVerifier, not_before: dt.datetime, not_after: dt.datetime, state: str
) -> None:
    issued = make_leaf(None, "stale", not_before=not_before, not_after=not_after)
    client = self_signed_client(jwks=jwks_of(issued.cert))
    request = token_request(body_for("self-1"), peer=peer_of(issued))
    error, event = await refused(request, client, verifier=verifier)
    assert event.reason == AuthFailureReason.CERTIFICATE_EXPIRED
    assert (error.detail or "").startswith(f"self-signed certificate {state}")


async def test_self_signed_without_jwks_or_jwks_uri_is_refused(
    pki: Any, verifier: ChainVerifier
) -> None:
    request = token_request(body_for("self-1"), peer=peer_of(pki.self_signed))
    _, event = await refused(request, self_signed_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.NO_CERTIFICATES_REGISTERED


async def test_self_signed_accepts_certificate_from_jwks_uri_without_refetch(
    pki: Any, verifier: ChainVerifier
) -> None:
    fetcher = ScriptedJwksFetcher(jwks_of(pki.self_signed.cert))
    client = self_signed_client(jwks_uri=JWKS_URI)
    request = token_request(body_for("self-1"), peer=peer_of(pki.self_signed))
    await authenticate(request, client, verifier=verifier, fetcher=fetcher)
    assert fetcher.calls == [(JWKS_URI, False)]


async def test_self_signed_refetches_jwks_uri_once_for_an_unknown_certificate(
    pki: Any, verifier: ChainVerifier
) -> None:
    rotated = make_leaf(None, "self-signed-client")
    fetcher = ScriptedJwksFetcher(jwks_of(pki.self_signed.cert), jwks_of(rotated.cert))
    client = self_signed_client(jwks_uri=JWKS_URI)
    request = token_request(body_for("self-1"), peer=peer_of(rotated))
    await authenticate(request, client, verifier=verifier, fetcher=fetcher)
    assert fetcher.calls == [(JWKS_URI, False), (JWKS_URI, True)]


async def test_self_signed_refuses_certificate_missing_after_the_refetch(
    pki: Any, verifier: ChainVerifier
) -> None:
    fetcher = ScriptedJwksFetcher(jwks_of(pki.self_signed.cert))
    client = self_signed_client(jwks_uri=JWKS_URI)
    request = token_request(body_for("self-1"), peer=peer_of(make_leaf(None, "unknown")))
    error, event = await refused(request, client, verifier=verifier, fetcher=fetcher)
    assert event.reason == AuthFailureReason.CERTIFICATE_NOT_REGISTERED
    assert "jwks_uri" in (error.detail or "")
    assert fetcher.calls == [(JWKS_URI, False), (JWKS_URI, True)]


@pytest.mark.parametrize("fail_on", ["fetch", "refetch"])
async def test_self_signed_jwks_uri_failure_is_invalid_client(
    pki: Any, verifier: ChainVerifier, fail_on: str
) -> None:
    down = JwksFetchError("timeout: no answer in 5 s")
    answers = (down,) if fail_on == "fetch" else (jwks_of(pki.other_client.cert), down)
    fetcher = ScriptedJwksFetcher(*answers)
    client = self_signed_client(jwks_uri=JWKS_URI)
    request = token_request(body_for("self-1"), peer=peer_of(pki.self_signed))
    error, event = await refused(request, client, verifier=verifier, fetcher=fetcher)
    assert event.reason == AuthFailureReason.JWKS_UNAVAILABLE
    assert f"{fail_on} failed: timeout" in (error.detail or "")


def test_registered_thumbprints_skips_keys_without_a_usable_x5c(pki: Any) -> None:
    good = jwk_with_x5c(pki.self_signed.cert)
    bare = {k: v for k, v in good.items() if k != "x5c"}
    jwks = {
        "keys": [
            "not a jwk",
            bare,
            {**bare, "x5t#S256": x5t_s256(pki.client.cert)},  # a bare thumbprint registers nothing
            {**bare, "x5c": []},
            {**bare, "x5c": [42]},
            {**bare, "x5c": ["***not base64***"]},
            good,
        ]
    }
    assert registered_thumbprints(jwks) == (x5t_s256(pki.self_signed.cert),)
    assert registered_thumbprints({"keys": "nope"}) == ()
    assert registered_thumbprints({}) == ()


async def test_self_signed_ignores_extra_certificates_after_the_leaf(
    pki: Any, verifier: ChainVerifier
) -> None:
    # Only the leaf is compared: a registered certificate sent as a "chain" member does not count.
    client = self_signed_client(jwks=jwks_of(pki.self_signed.cert))
    chain = PeerCertificate((pki.client.cert, pki.self_signed.cert), peer_of(pki.client).source)
    _, event = await refused(
        token_request(body_for("self-1"), peer=chain), client, verifier=verifier
    )
    assert event.reason == AuthFailureReason.CERTIFICATE_NOT_REGISTERED


def test_subject_names_in_fixtures_are_as_assumed(pki: Any) -> None:
    """Guards the DN strings above: O then CN, so RFC 4514 text is 'CN=...,O=...'."""
    assert pki.client.cert.subject == name("client-1")
    assert (
        pki.client.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "client-1"
    )
