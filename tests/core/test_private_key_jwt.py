"""private_key_jwt (RFC 7523 §2.2, §3; OIDC Core §9): assertions, replay, registration, wiring."""

from __future__ import annotations

import base64
import secrets
import warnings
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey
from provider_fakes import (
    DictClientStore,
    EventLog,
    FixedClock,
    ScriptedJwksFetcher,
    SetReplayCache,
    form_request,
    peer_of,
    public_jwks,
    sign_jws,
    tls_client,
)

from certbound.core.client_auth import (
    PUBLIC_DESCRIPTION,
    AuthenticatedClient,
    AuthFailureReason,
    ClientAssertionVerifier,
    authenticate_client,
)
from certbound.core.client_auth.private_key_jwt import (
    ASSERTION_ALGORITHMS,
    CLIENT_ASSERTION_TYPE,
    assertion_subject,
)
from certbound.core.clients import Client
from certbound.core.errors import (
    InvalidClientError,
    InvalidClientMetadataError,
    InvalidRequestError,
)
from certbound.core.events import ClientAuthenticated, ClientAuthFailed
from certbound.core.form import parse_form
from certbound.core.messages import Request
from certbound.core.mtls.verification import ChainVerifier, TrustStore
from certbound.core.policy import ServerPolicy
from certbound.core.ports import JwksFetchError
from certbound.core.provider import Provider
from certbound.core.registration_rules import validate_client_metadata
from certbound.keys.keyset import KeySet
from certbound.keys.local import LocalSigner
from testpki import NOW

ISSUER: Final = "https://as.example.com"
MTLS: Final = "https://mtls.as.example.com"
POLICY: Final = ServerPolicy(
    issuer=ISSUER,
    mtls_base_url=MTLS,
    client_auth_methods=("tls_client_auth", "private_key_jwt"),
)
T: Final = int(NOW.timestamp())
KEY: Final = ECKey.generate_key("P-256", parameters={"kid": "k1"})
OTHER_KEY: Final = ECKey.generate_key("P-256", parameters={"kid": "k1"})
JWKS_URI: Final = "https://client.example.com/jwks.json"
DROP: Final = object()


@pytest.fixture
def verifier(pki: Any) -> ChainVerifier:
    return ChainVerifier(TrustStore.from_pem(pki.root.pem))


def jwt_client(client_id: str = "jwt-1", **fields: Any) -> Client:
    if "jwks_uri" not in fields:
        fields.setdefault("jwks", public_jwks(KEY))
    return Client(client_id=client_id, token_endpoint_auth_method="private_key_jwt", **fields)


def claims(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "iss": "jwt-1",
        "sub": "jwt-1",
        "aud": ISSUER + "/token",
        "iat": T,
        "exp": T + 60,
        "jti": secrets.token_urlsafe(12),
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not DROP}


def body(assertion: str | None, *, client_id: str | None = "jwt-1", kind: str | None = None) -> str:
    fields = {"grant_type": "client_credentials"}
    if client_id is not None:
        fields["client_id"] = client_id
    if kind is not None or assertion is not None:
        fields["client_assertion_type"] = kind or CLIENT_ASSERTION_TYPE
    if assertion is not None:
        fields["client_assertion"] = assertion
    return urlencode(fields)


def request_with(assertion: str | None, **kwargs: Any) -> Request:
    peer = kwargs.pop("peer", None)
    return form_request("/token", body(assertion, **kwargs), peer=peer)


async def authenticate(
    request: Request,
    *clients: Client,
    verifier: ChainVerifier,
    replay: SetReplayCache | None = None,
    events: EventLog | None = None,
    fetcher: ScriptedJwksFetcher | None = None,
    endpoint: str = "token",
    with_assertions: bool = True,
    allowed: tuple[str, ...] = POLICY.client_auth_methods,
) -> AuthenticatedClient:
    cache = replay if replay is not None else SetReplayCache()
    assertions = ClientAssertionVerifier.for_endpoint(POLICY, endpoint, cache)
    return await authenticate_client(
        parse_form(request.body),
        request,
        clients=DictClientStore(*clients),
        verifier=verifier,
        jwks_fetcher=fetcher or ScriptedJwksFetcher(JwksFetchError("no jwks_uri in this test")),
        events=events if events is not None else EventLog(),
        now=NOW,
        allowed_methods=allowed,
        assertions=assertions if with_assertions else None,
    )


async def refused(request: Request, *clients: Client, **kwargs: Any) -> ClientAuthFailed:
    """Expect invalid_client with the public description; return the one failure event."""
    events = EventLog()
    with pytest.raises(InvalidClientError) as caught:
        await authenticate(request, *clients, events=events, **kwargs)
    assert caught.value.body() == {
        "error": "invalid_client",
        "error_description": PUBLIC_DESCRIPTION,
    }
    (event,) = events.events
    assert isinstance(event, ClientAuthFailed)
    assert event.detail == caught.value.detail
    return event


# --- accepted assertions -----------------------------------------------------------------------


async def test_assertion_signed_with_a_registered_key_authenticates_the_client(
    verifier: ChainVerifier,
) -> None:
    events, replay = EventLog(), SetReplayCache()
    assertion = sign_jws(KEY, claims(jti="one"), kid="k1")
    result = await authenticate(
        request_with(assertion), jwt_client(), verifier=verifier, events=events, replay=replay
    )
    assert (result.client.client_id, result.method, result.peer) == (
        "jwt-1",
        "private_key_jwt",
        None,
    )
    assert events.events == [ClientAuthenticated("jwt-1", "private_key_jwt", None)]
    assert replay.used == {"jwt-1:one": T + 60 + 30}  # per client, kept past exp by the leeway


async def test_a_presented_certificate_is_kept_for_binding(
    pki: Any, verifier: ChainVerifier
) -> None:
    peer = peer_of(pki.client)
    request = request_with(sign_jws(KEY, claims()), peer=peer)
    result = await authenticate(request, jwt_client(), verifier=verifier)
    assert result.peer is peer
    assert result.method == "private_key_jwt"


def _rsa(bits: int) -> RSAKey:
    with warnings.catch_warnings():  # joserfc warns about (and still imports) short RSA keys
        warnings.simplefilter("ignore", SecurityWarning)
        return RSAKey.import_key(rsa.generate_private_key(65537, bits))


@pytest.mark.parametrize(
    ("alg", "make_key"),
    [
        ("ES256", lambda: ECKey.generate_key("P-256")),
        ("ES384", lambda: ECKey.generate_key("P-384")),
        ("PS256", lambda: _rsa(2048)),
        ("RS256", lambda: _rsa(2048)),
        ("Ed25519", lambda: OKPKey.generate_key("Ed25519")),
    ],
)
async def test_every_accepted_algorithm_verifies_without_a_kid(
    verifier: ChainVerifier, alg: str, make_key: Any
) -> None:
    key = make_key()
    client = jwt_client(
        jwks={"keys": [public_jwks(OTHER_KEY)["keys"][0], key.as_dict(private=False)]}
    )
    result = await authenticate(
        request_with(sign_jws(key, claims(), alg=alg)), client, verifier=verifier
    )
    assert result.client.client_id == "jwt-1"
    assert alg in ASSERTION_ALGORITHMS


@pytest.mark.parametrize(
    "aud",
    [
        ISSUER,
        ISSUER + "/token",
        MTLS + "/token",
        ["https://elsewhere.example", MTLS + "/token"],
    ],
)
async def test_audience_may_be_the_issuer_or_the_token_endpoint_on_either_listener(
    verifier: ChainVerifier, aud: Any
) -> None:
    assertion = sign_jws(KEY, claims(aud=aud))
    assert (await authenticate(request_with(assertion), jwt_client(), verifier=verifier)).method


@pytest.mark.parametrize("aud", [ISSUER + "/introspect", MTLS + "/introspect"])
async def test_audience_may_be_the_endpoint_being_called(verifier: ChainVerifier, aud: str) -> None:
    request = form_request("/introspect", body(sign_jws(KEY, claims(aud=aud))))
    result = await authenticate(request, jwt_client(), verifier=verifier, endpoint="introspection")
    assert result.client.client_id == "jwt-1"


async def test_introspection_url_is_not_an_audience_at_the_token_endpoint(
    verifier: ChainVerifier,
) -> None:
    assertion = sign_jws(KEY, claims(aud=ISSUER + "/introspect"))
    event = await refused(request_with(assertion), jwt_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.ASSERTION_CLAIMS_INVALID
    assert event.detail == "client_assertion: aud does not name this authorization server"


def test_for_endpoint_lists_issuer_and_both_listeners() -> None:
    audiences = ClientAssertionVerifier.for_endpoint(
        POLICY, "revocation", SetReplayCache()
    ).audiences
    assert audiences == {
        ISSUER,
        ISSUER + "/token",
        MTLS + "/token",
        ISSUER + "/revoke",
        MTLS + "/revoke",
    }
    no_alias = ServerPolicy(issuer=ISSUER, mtls_base_url=None)
    assert ClientAssertionVerifier.for_endpoint(no_alias, "token", SetReplayCache()).audiences == {
        ISSUER,
        ISSUER + "/token",
    }


async def test_client_id_may_be_omitted_and_is_taken_from_sub(verifier: ChainVerifier) -> None:
    request = request_with(sign_jws(KEY, claims()), client_id=None)
    assert (
        await authenticate(request, jwt_client(), verifier=verifier)
    ).client.client_id == "jwt-1"


def test_assertion_subject_reads_sub_without_verifying() -> None:
    assert assertion_subject(sign_jws(OTHER_KEY, claims(sub="x"))) == "x"
    assert assertion_subject(sign_jws(KEY, claims(sub=7))) is None
    assert assertion_subject("not a jws") is None


async def test_jwks_uri_keys_are_fetched_and_refetched_once_after_rotation(
    verifier: ChainVerifier,
) -> None:
    fetcher = ScriptedJwksFetcher(public_jwks(OTHER_KEY), public_jwks(KEY))
    client = jwt_client(jwks_uri=JWKS_URI)
    result = await authenticate(
        request_with(sign_jws(KEY, claims(), kid="k1")), client, verifier=verifier, fetcher=fetcher
    )
    assert result.client.client_id == "jwt-1"
    assert fetcher.calls == [(JWKS_URI, False), (JWKS_URI, True)]


async def test_jwks_uri_without_the_key_after_refetch_is_refused(verifier: ChainVerifier) -> None:
    fetcher = ScriptedJwksFetcher(public_jwks(OTHER_KEY))
    event = await refused(
        request_with(sign_jws(KEY, claims())),
        jwt_client(jwks_uri=JWKS_URI),
        verifier=verifier,
        fetcher=fetcher,
    )
    assert event.reason == AuthFailureReason.ASSERTION_SIGNATURE_INVALID
    assert event.detail == (
        "no key of the client's jwks_uri verifies the client_assertion (alg ES256, kid None)"
    )
    assert fetcher.calls == [(JWKS_URI, False), (JWKS_URI, True)]


async def test_jwks_uri_fetch_failure_is_refused(verifier: ChainVerifier) -> None:
    fetcher = ScriptedJwksFetcher(JwksFetchError("timeout"))
    event = await refused(
        request_with(sign_jws(KEY, claims())),
        jwt_client(jwks_uri=JWKS_URI),
        verifier=verifier,
        fetcher=fetcher,
    )
    assert event.reason == AuthFailureReason.JWKS_UNAVAILABLE
    assert event.detail == f"jwks_uri {JWKS_URI!r} fetch failed: timeout"


async def test_junk_in_a_fetched_jwks_is_skipped(verifier: ChainVerifier) -> None:
    rsa_without_modulus = {"kty": "RSA", "e": "AQAB"}
    rsa_bad_modulus = {"kty": "RSA", "e": "AQAB", "n": "*not base64*"}
    fetcher = ScriptedJwksFetcher(
        {"keys": ["junk", rsa_without_modulus, rsa_bad_modulus, {"kty": "oct", "k": "AAAA"}]},
        {"keys": "not a list"},
    )
    event = await refused(
        request_with(sign_jws(KEY, claims())),
        jwt_client(jwks_uri=JWKS_URI),
        verifier=verifier,
        fetcher=fetcher,
    )
    assert event.reason == AuthFailureReason.ASSERTION_SIGNATURE_INVALID


# --- refused assertions ------------------------------------------------------------------------


async def test_replayed_jti_is_refused(verifier: ChainVerifier) -> None:
    replay = SetReplayCache()
    assertion = sign_jws(KEY, claims(jti="once"))
    await authenticate(request_with(assertion), jwt_client(), verifier=verifier, replay=replay)
    event = await refused(request_with(assertion), jwt_client(), verifier=verifier, replay=replay)
    assert event.reason == AuthFailureReason.ASSERTION_REPLAYED
    assert event.detail == "client_assertion jti 'once' was used before"


async def test_the_same_jti_from_two_clients_is_not_a_replay(verifier: ChainVerifier) -> None:
    replay = SetReplayCache()
    clients = (jwt_client(), jwt_client("jwt-2"))
    for client_id in ("jwt-1", "jwt-2"):
        assertion = sign_jws(KEY, claims(iss=client_id, sub=client_id, jti="shared"))
        request = request_with(assertion, client_id=client_id)
        await authenticate(request, *clients, verifier=verifier, replay=replay)
    assert set(replay.used) == {"jwt-1:shared", "jwt-2:shared"}


async def test_signature_by_an_unregistered_key_is_refused(verifier: ChainVerifier) -> None:
    event = await refused(
        request_with(sign_jws(OTHER_KEY, claims(), kid="k1")), jwt_client(), verifier=verifier
    )
    assert event.reason == AuthFailureReason.ASSERTION_SIGNATURE_INVALID
    assert event.detail == (
        "no key of the client's jwks verifies the client_assertion (alg ES256, kid 'k1')"
    )


@pytest.mark.parametrize(
    ("jwk_changes", "why"),
    [
        ({"kid": "k2"}, "another kid"),
        ({"use": "enc"}, "an encryption key"),
        ({"alg": "ES384"}, "a key for another alg"),
        ({"x": "AAAA"}, "a broken key"),
    ],
)
async def test_keys_that_may_not_verify_are_skipped(
    verifier: ChainVerifier, jwk_changes: dict[str, Any], why: str
) -> None:
    jwk = {**KEY.as_dict(private=False), **jwk_changes}
    event = await refused(
        request_with(sign_jws(KEY, claims(), kid="k1")),
        jwt_client(jwks={"keys": [jwk]}),
        verifier=verifier,
    )
    assert event.reason == AuthFailureReason.ASSERTION_SIGNATURE_INVALID, why


async def test_rsa_key_below_2048_bits_is_never_used(verifier: ChainVerifier) -> None:
    weak = _rsa(1024)
    event = await refused(
        request_with(sign_jws(weak, claims(), alg="RS256")),
        jwt_client(jwks=public_jwks(weak)),
        verifier=verifier,
    )
    assert event.reason == AuthFailureReason.ASSERTION_SIGNATURE_INVALID


def _unsigned(header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    import json

    def part(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}."


async def test_alg_none_is_refused(verifier: ChainVerifier) -> None:
    assertion = _unsigned({"alg": "none"}, claims())
    event = await refused(request_with(assertion), jwt_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.ASSERTION_ALGORITHM_REFUSED
    assert event.detail is not None and event.detail.startswith("client_assertion alg 'none'")


async def test_hmac_is_refused_even_with_a_symmetric_key_registered(
    verifier: ChainVerifier,
) -> None:
    secret = OctKey.import_key(secrets.token_bytes(32))
    client = jwt_client(jwks={"keys": [secret.as_dict(private=True)]})
    event = await refused(
        request_with(sign_jws(secret, claims(), alg="HS256")), client, verifier=verifier
    )
    assert event.reason == AuthFailureReason.ASSERTION_ALGORITHM_REFUSED


@pytest.mark.parametrize(
    "assertion",
    ["garbage", "a.b", "é.x.y"],
    ids=["no-dots", "two-parts", "non-ascii"],
)
async def test_malformed_assertion_is_refused(verifier: ChainVerifier, assertion: str) -> None:
    event = await refused(request_with(assertion), jwt_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.ASSERTION_MALFORMED
    assert event.detail == "client_assertion is not a compact JWS"


@pytest.mark.parametrize("payload", [b"[1, 2]", b"not json"])
async def test_payload_that_is_not_a_json_object_is_refused(
    verifier: ChainVerifier, payload: bytes
) -> None:
    event = await refused(request_with(sign_jws(KEY, payload)), jwt_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.ASSERTION_MALFORMED
    assert event.detail == "client_assertion payload is not a JSON object"


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"iss": "jwt-2"}, "iss and sub must both be the client_id"),
        ({"sub": "jwt-2"}, "iss and sub must both be the client_id"),
        ({"iss": DROP}, "iss and sub must both be the client_id"),
        ({"aud": "https://as.example.com/other"}, "aud does not name this authorization server"),
        ({"aud": DROP}, "aud does not name this authorization server"),
        ({"aud": [7]}, "aud does not name this authorization server"),
        ({"exp": DROP}, "exp is required"),
        ({"exp": "soon"}, "'exp' must be a NumericDate (integer seconds)"),
        ({"exp": True}, "'exp' must be a NumericDate (integer seconds)"),
        ({"iat": T - 100, "exp": T - 31}, "expired"),
        ({"iat": DROP, "exp": T + 601}, "exp is more than 600 seconds ahead"),
        ({"iat": T + 31, "exp": T + 100}, "issued in the future"),
        ({"iat": T - 250, "exp": T + 51}, "lifetime exp - iat exceeds 300 seconds"),
        ({"nbf": T + 31}, "not valid yet (nbf)"),
        ({"nbf": 1.5}, "'nbf' must be a NumericDate (integer seconds)"),
        ({"jti": DROP}, "jti is required (a string of 1 to 256 characters)"),
        ({"jti": ""}, "jti is required (a string of 1 to 256 characters)"),
        ({"jti": 12}, "jti is required (a string of 1 to 256 characters)"),
        ({"jti": "j" * 257}, "jti is required (a string of 1 to 256 characters)"),
    ],
)
async def test_claims_are_checked_as_rfc7523_section3_requires(
    verifier: ChainVerifier, changes: dict[str, Any], detail: str
) -> None:
    replay = SetReplayCache()
    assertion = sign_jws(KEY, claims(**changes))
    event = await refused(request_with(assertion), jwt_client(), verifier=verifier, replay=replay)
    assert event.reason == AuthFailureReason.ASSERTION_CLAIMS_INVALID
    assert event.detail == f"client_assertion: {detail}"
    assert replay.used == {}  # nothing is recorded for a refused assertion


async def test_clock_skew_within_the_leeway_is_accepted(verifier: ChainVerifier) -> None:
    assertion = sign_jws(KEY, claims(iat=T + 30, nbf=T + 30, exp=T + 30))
    assert (await authenticate(request_with(assertion), jwt_client(), verifier=verifier)).method
    expired_in_leeway = sign_jws(KEY, claims(iat=T - 60, exp=T - 30))
    assert (
        await authenticate(request_with(expired_in_leeway), jwt_client(), verifier=verifier)
    ).method


async def test_client_id_other_than_the_assertion_subject_is_refused(
    verifier: ChainVerifier,
) -> None:
    assertion = sign_jws(KEY, claims())  # iss = sub = jwt-1
    request = request_with(assertion, client_id="jwt-2")
    event = await refused(request, jwt_client(), jwt_client("jwt-2"), verifier=verifier)
    assert event.client_id == "jwt-2"
    assert event.reason == AuthFailureReason.ASSERTION_CLAIMS_INVALID


async def test_no_client_id_and_no_readable_sub_is_refused(verifier: ChainVerifier) -> None:
    event = await refused(request_with("garbage", client_id=None), jwt_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.ASSERTION_MALFORMED
    assert event.detail == "no client_id, and no sub in client_assertion"
    assert event.client_id is None


async def test_assertion_type_without_assertion_or_client_id_is_invalid_request(
    verifier: ChainVerifier,
) -> None:
    events = EventLog()
    request = form_request("/token", f"client_assertion_type={CLIENT_ASSERTION_TYPE}")
    with pytest.raises(InvalidRequestError, match="client_id is required"):
        await authenticate(request, jwt_client(), verifier=verifier, events=events)
    assert events.of(ClientAuthFailed)[0].reason == AuthFailureReason.MISSING_CLIENT_ID


async def test_wrong_assertion_type_is_refused(verifier: ChainVerifier) -> None:
    request = request_with(
        sign_jws(KEY, claims()), kind="urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    )
    event = await refused(request, jwt_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.ASSERTION_TYPE_UNSUPPORTED
    assert event.detail is not None and "saml2-bearer" in event.detail


@pytest.mark.parametrize(
    "form",
    [
        "grant_type=client_credentials&client_id=jwt-1",
        f"client_id=jwt-1&client_assertion_type={CLIENT_ASSERTION_TYPE}",
    ],
    ids=["nothing", "type-only"],
)
async def test_registered_jwt_client_without_an_assertion_is_refused(
    verifier: ChainVerifier, form: str
) -> None:
    event = await refused(form_request("/token", form), jwt_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.ASSERTION_MISSING
    assert event.method == "private_key_jwt"


async def test_assertion_only_client_id_and_assertion_without_type_is_refused(
    verifier: ChainVerifier,
) -> None:
    form = urlencode({"client_id": "jwt-1", "client_assertion": sign_jws(KEY, claims())})
    event = await refused(form_request("/token", form), jwt_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.ASSERTION_MISSING


async def test_client_without_keys_is_refused(verifier: ChainVerifier) -> None:
    client = Client(client_id="jwt-1", token_endpoint_auth_method="private_key_jwt")
    event = await refused(request_with(sign_jws(KEY, claims())), client, verifier=verifier)
    assert event.reason == AuthFailureReason.NO_KEYS_REGISTERED


async def test_endpoint_without_an_assertion_verifier_refuses_jwt_clients(
    verifier: ChainVerifier,
) -> None:
    request = request_with(sign_jws(KEY, claims()))
    event = await refused(request, jwt_client(), verifier=verifier, with_assertions=False)
    assert event.reason == AuthFailureReason.METHOD_NOT_ALLOWED
    assert event.detail == "this endpoint takes no client assertions"


async def test_private_key_jwt_not_enabled_by_the_policy_is_refused(
    verifier: ChainVerifier,
) -> None:
    request = request_with(sign_jws(KEY, claims()))
    event = await refused(request, jwt_client(), verifier=verifier, allowed=("tls_client_auth",))
    assert event.reason == AuthFailureReason.METHOD_NOT_ALLOWED
    assert event.detail == "the client's registered method 'private_key_jwt' is not accepted here"


async def test_mtls_client_presenting_a_valid_assertion_is_refused(
    pki: Any, verifier: ChainVerifier
) -> None:
    assertion = sign_jws(KEY, claims(iss="client-1", sub="client-1"))
    request = request_with(assertion, client_id="client-1", peer=peer_of(pki.client))
    event = await refused(request, tls_client(), verifier=verifier)
    assert event.reason == AuthFailureReason.OTHER_METHOD_PRESENTED
    assert event.method == "private_key_jwt"
    assert event.detail == "private_key_jwt presented; the client is registered for tls_client_auth"


# --- registration (RFC 7591 §2 with RFC 7523) --------------------------------------------------


def register(meta: dict[str, Any], policy: ServerPolicy = POLICY) -> Client:
    return validate_client_metadata(
        {"token_endpoint_auth_method": "private_key_jwt", **meta},
        client_id="jwt-1",
        now=T,
        policy=policy,
        generate_id=lambda: "unused",
    )


def test_registration_accepts_jwks_without_certificates() -> None:
    client = register({"jwks": public_jwks(KEY, OKPKey.generate_key("Ed25519"), _rsa(2048))})
    assert client.token_endpoint_auth_method == "private_key_jwt"
    assert client.jwks is not None and len(client.jwks["keys"]) == 3


def test_registration_accepts_a_jwks_uri() -> None:
    assert register({"jwks_uri": JWKS_URI}).jwks_uri == JWKS_URI


@pytest.mark.parametrize(
    ("meta", "description"),
    [
        ({}, "jwks: private_key_jwt needs jwks or jwks_uri (RFC 7523 section 2.2)"),
        (
            {"jwks": {"keys": [{"kty": "oct", "kid": "x"}]}},
            "jwks: keys[0] must be an EC, RSA or OKP public key",
        ),
        (
            {"jwks": {"keys": [{**KEY.as_dict(private=False), "use": "enc"}]}},
            "jwks: keys[0] has use 'enc'; client assertions need 'sig'",
        ),
        (
            {"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}},
            "jwks: keys[0] is not a valid JWK",
        ),
        (
            {"jwks": public_jwks(_rsa(1024))},
            "jwks: keys[0] has an RSA key of 1024 bits (minimum 2048)",
        ),
        (
            {"jwks": {"keys": [{"kty": "RSA", "e": "AQAB"}]}},
            "jwks: keys[0] is not a valid JWK",
        ),
        (
            {"jwks": {"keys": [KEY.as_dict(private=True)]}},
            "jwks: keys[0] contains private key material",
        ),
    ],
    ids=[
        "no-keys",
        "symmetric",
        "encryption-key",
        "broken-key",
        "short-rsa",
        "rsa-without-modulus",
        "private-key",
    ],
)
def test_registration_refuses_unusable_keys(meta: dict[str, Any], description: str) -> None:
    with pytest.raises(InvalidClientMetadataError) as caught:
        register(meta)
    assert caught.value.description == description


def test_registration_needs_the_policy_to_list_private_key_jwt() -> None:
    only_mtls = ServerPolicy(issuer=ISSUER, mtls_base_url=None)
    with pytest.raises(InvalidClientMetadataError, match="'private_key_jwt' is not accepted here"):
        register({"jwks": public_jwks(KEY)}, only_mtls)


def test_policy_accepts_private_key_jwt_as_a_method() -> None:
    assert "private_key_jwt" in POLICY.client_auth_methods


# --- the token endpoint ------------------------------------------------------------------------


async def test_token_endpoint_issues_a_bound_token_to_a_jwt_client(pki: Any) -> None:
    client = jwt_client(grant_types=("client_credentials",))
    provider = Provider(
        clients=DictClientStore(client),
        verifier=ChainVerifier(TrustStore.from_pem(pki.root.pem)),
        keys=KeySet([LocalSigner.generate("ES256")]),
        jwks_fetcher=ScriptedJwksFetcher({"keys": []}),
        policy=POLICY,
        clock=FixedClock(NOW),
        events=EventLog(),
        replay=SetReplayCache(),
    )
    request = request_with(sign_jws(KEY, claims()), peer=peer_of(pki.client))
    response = await provider.handle("token", request)
    assert response.status == 200
    assert response.json is not None and response.json["token_type"] == "Bearer"
