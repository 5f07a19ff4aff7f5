"""certbound.resource without sockets: parsing, challenges, caches, claims, options."""

from __future__ import annotations

import ssl
import time
from typing import Any

import httpx
import pytest
import structlog
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwk import KeySet as JoseKeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import certbound.resource as resource
from certbound.core.endpoints.discovery import metadata_urls as discovery_urls
from certbound.core.errors import (
    InsufficientScopeError,
    InvalidRequestError,
    InvalidTokenError,
    TemporarilyUnavailableError,
)
from certbound.core.mtls.certificate import CertificateSource, PeerCertificate
from certbound.core.tokens.access_token import issue_access_token
from certbound.keys import KeySet, LocalSigner
from certbound.resource import (
    AccessTokenVerifier,
    CertificateBoundTokenMiddleware,
    IntrospectionVerifier,
    RemoteJwks,
    VerifiedAccessToken,
    bearer_challenge,
    bearer_token,
    require_scopes,
    requires_scopes,
)
from certbound.resource._cache import ExpiringLru, token_key
from certbound.resource._discovery import check_issuer_url, client_ssl_context
from certbound.resource.errors import ResourceServerUnavailableError
from certbound.resource.introspection import _endpoint_from
from certbound.resource.jwks_cache import _import_keys
from certbound.resource.middleware import _protection
from certbound.resource.verifier import verified_from_claims

ISSUER = "https://as.example"


class StaticKeys:
    """A KeySource over keys held in process (an AS and RS in one process would do this)."""

    issuer = ISSUER

    def __init__(self, signer: LocalSigner) -> None:
        self._keys: JoseKeySet = KeySet([signer]).public_keyset()

    async def key_set(self, kid: str | None = None) -> JoseKeySet:
        return self._keys

    async def aclose(self) -> None:
        return None


@pytest.fixture(scope="module")
def signer() -> LocalSigner:
    return LocalSigner.generate("ES256")


@pytest.fixture(scope="module")
def peer(pki) -> PeerCertificate:
    return PeerCertificate(pki.client.chain, CertificateSource.TLS)


def test_public_surface_is_curated() -> None:
    assert resource.__all__ == [
        "ACCESS_TOKEN",
        "AccessTokenVerifier",
        "CertificateBoundTokenMiddleware",
        "IntrospectionVerifier",
        "KeySource",
        "RemoteJwks",
        "ResourceServerUnavailableError",
        "TokenVerifier",
        "VerifiedAccessToken",
        "VerifierStats",
        "access_token",
        "bearer_challenge",
        "bearer_token",
        "require_scopes",
        "require_token",
        "requires_scopes",
    ]
    for name in resource.__all__:
        assert getattr(resource, name) is not None


def test_unavailable_is_a_503_with_retry_after_and_a_private_detail() -> None:
    error = ResourceServerUnavailableError("https://as/jwks: HTTP 500", retry_after=7)
    assert isinstance(error, TemporarilyUnavailableError)
    assert (error.status_code, error.detail, error.headers()) == (
        503,
        "https://as/jwks: HTTP 500",
        {"Retry-After": "7"},
    )
    assert "jwks" not in str(error.body())


# --- the cache --------------------------------------------------------------------------------


def test_cache_drops_expired_entries_and_evicts_the_least_recent() -> None:
    cache: ExpiringLru[str] = ExpiringLru(2)
    cache.put(b"a", "A", expires_at=10)
    cache.put(b"b", "B", expires_at=10)
    assert cache.get(b"a", now=5) == "A"  # a is now the most recent
    cache.put(b"c", "C", expires_at=10)
    assert (cache.get(b"b", now=5), cache.get(b"a", now=5), cache.get(b"c", now=5)) == (
        None,
        "A",
        "C",
    )
    assert cache.get(b"a", now=10) is None
    assert len(cache) == 1


def test_cache_needs_room_and_keys_are_token_digests() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ExpiringLru(0)
    assert len(token_key("abc")) == 32
    assert token_key("abc") == token_key("abc") != token_key("abd")


# --- discovery and TLS options ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "oauth", "oidc"),
    [
        (
            "https://as.example",
            "https://as.example/.well-known/oauth-authorization-server",
            "https://as.example/.well-known/openid-configuration",
        ),
        (
            "https://as.example:8443/tenant/1/",
            "https://as.example:8443/.well-known/oauth-authorization-server/tenant/1",
            "https://as.example:8443/tenant/1/.well-known/openid-configuration",
        ),
    ],
)
def test_discovery_urls_follow_rfc8414_and_oidc(issuer: str, oauth: str, oidc: str) -> None:
    assert discovery_urls(issuer) == (oauth, oidc)


@pytest.mark.parametrize(
    "issuer", ["http://as.example", "https://", "https://as.example?x=1", "https://as.example#f"]
)
def test_issuer_must_be_an_https_url_without_query_or_fragment(issuer: str) -> None:
    with pytest.raises(ValueError, match="https URL"):
        check_issuer_url(issuer)
    with pytest.raises(ValueError, match="https URL"):
        RemoteJwks(issuer)


def test_tls_options_refuse_unverified_and_ambiguous_setups(files) -> None:
    with pytest.raises(ValueError, match="must be verified"):
        client_ssl_context(False)
    ready = ssl.create_default_context()
    assert client_ssl_context(ready) is ready
    with pytest.raises(ValueError, match="into the given SSLContext"):
        client_ssl_context(ready, files.pair("rs"))
    context = client_ssl_context(files.root, files.pair("rs"))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


# --- RFC 6750 §2.1 parsing --------------------------------------------------------------------


def scope_with(*headers: tuple[bytes, bytes], query: bytes = b"") -> dict[str, Any]:
    return {"type": "http", "path": "/", "headers": list(headers), "query_string": query}


@pytest.mark.parametrize(
    ("value", "token"),
    [
        (b"Bearer abc.def-ghi", "abc.def-ghi"),
        (b"bearer   a+b/c==", "a+b/c=="),
        (b"BEARER x", "x"),
        (b"Basic dXNlcjpwYXNz", None),
        (b"Negotiate", None),
    ],
)
def test_bearer_token_is_read_from_the_authorization_header(
    value: bytes, token: str | None
) -> None:
    assert bearer_token(scope_with((b"authorization", value))) == token


def test_no_authorization_header_means_no_token() -> None:
    assert bearer_token(scope_with((b"accept", b"*/*"), query=b"page=2")) is None


@pytest.mark.parametrize(
    ("headers", "query", "message"),
    [
        ((), b"access_token=abc", "Authorization header only"),
        ((), b"a=1&access_token=", "Authorization header only"),
        (((b"authorization", b"Bearer a"), (b"Authorization", b"Bearer b")), b"", "more than one"),
        (((b"authorization", b""),), b"", "is malformed"),
        (((b"authorization", b"Bearer =abc"),), b"", "not 'Bearer <token>'"),
        (((b"authorization", b"Bearer a=b"),), b"", "not 'Bearer <token>'"),
    ],
    ids=["query", "empty-query-token", "two-headers", "empty", "leading-equals", "inner-equals"],
)
def test_bad_bearer_requests_are_invalid_request(headers: Any, query: bytes, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        bearer_token(scope_with(*headers, query=query))


@settings(max_examples=150)
@given(token=st.from_regex(r"\A[A-Za-z0-9\-._~+/]+=*\Z"))
def test_every_b64token_round_trips(token: str) -> None:
    assert bearer_token(scope_with((b"authorization", f"Bearer {token}".encode()))) == token


def test_bearer_challenge_omits_what_is_not_there() -> None:
    assert bearer_challenge(None, None) == "Bearer"
    assert bearer_challenge("api", None) == 'Bearer realm="api"'
    assert bearer_challenge(None, InvalidTokenError()) == 'Bearer error="invalid_token"'
    error = InsufficientScopeError("more needed", scope="a b")
    assert bearer_challenge("api", error) == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="more needed", scope="a b"'
    )


# --- middleware options -----------------------------------------------------------------------


def test_protected_prefixes_match_whole_segments() -> None:
    protected = _protection(["/api/", "/admin"])
    assert [protected(p) for p in ("/api", "/api/x", "/apix", "/admin/a/b", "/", "/health")] == [
        True,
        True,
        False,
        True,
        False,
        False,
    ]
    assert _protection(None)("/anything")
    assert _protection(["/"])("/anything")
    assert _protection(lambda path: path == "/x")("/x")


@pytest.mark.parametrize(
    ("protected", "error"),
    [("/api", TypeError), (["api"], ValueError), ([], ValueError)],
    ids=["one-string", "relative", "empty"],
)
def test_bad_protected_prefixes_are_refused(protected: Any, error: type[Exception], signer) -> None:
    with pytest.raises(error):
        CertificateBoundTokenMiddleware(
            Starlette(), AccessTokenVerifier(StaticKeys(signer), audience="rs"), protected=protected
        )


@pytest.mark.parametrize("realm", ["", 'a"b', "a\\b", "caf\u00e9"])
def test_realm_must_fit_a_quoted_string(realm: str, signer) -> None:
    verifier = AccessTokenVerifier(StaticKeys(signer), audience="rs")
    with pytest.raises(ValueError, match="realm"):
        CertificateBoundTokenMiddleware(Starlette(), verifier, realm=realm)


async def test_websocket_without_a_token_is_closed_with_1008(signer) -> None:
    reached: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope)

    middleware = CertificateBoundTokenMiddleware(
        app, AccessTokenVerifier(StaticKeys(signer), audience="rs")
    )
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    scope = {"type": "websocket", "path": "/ws", "headers": [], "client": ("127.0.0.1", 1)}
    await middleware(scope, receive, send)
    await middleware({"type": "lifespan"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert reached == [{"type": "lifespan"}]


async def _never(*_: Any) -> Any:
    raise AssertionError("the app was not expected to talk to the client")


async def test_websocket_with_a_bound_token_reaches_the_app(signer, peer) -> None:
    reached: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(resource.access_token(scope))

    middleware = CertificateBoundTokenMiddleware(
        app, AccessTokenVerifier(StaticKeys(signer), audience="rs")
    )
    token = mint(signer, cnf=peer.thumbprint)
    chain = [c.public_bytes(Encoding.PEM).decode() for c in peer.chain]
    scope = {
        "type": "websocket",
        "path": "/ws",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 1),
        "extensions": {"tls": {"client_cert_chain": chain}},
    }
    await middleware(scope, _never, _never)
    assert isinstance(reached[0], VerifiedAccessToken)
    assert reached[0].cnf_thumbprint == peer.thumbprint


# --- claims, scopes and the verifier ----------------------------------------------------------


def mint(
    signer: LocalSigner,
    *,
    cnf: str | None,
    now: int | None = None,
    lifetime: int = 300,
    **extra: Any,
) -> str:
    return issue_access_token(
        signer,
        issuer=ISSUER,
        client_id="c",
        subject="s",
        audience="rs",
        scope=extra.pop("scope", ("read",)),
        lifetime=lifetime,
        now=int(time.time()) if now is None else now,
        cnf_thumbprint=cnf,
        **extra,
    ).token


@pytest.mark.parametrize(
    ("claims", "description"),
    [
        ({"exp": "soon"}, "the token's 'exp' claim is not a number"),
        ({"exp": True}, "the token's 'exp' claim is not a number"),
        ({"client_id": 7}, "the token's 'client_id' claim is not a string"),
        ({"sub": ["a"]}, "the token's 'sub' claim is not a string"),
        ({"scope": ["a"]}, "the token's scope claim is not a string"),
        ({"scope": " a"}, "the token's scope claim is malformed"),
        ({"scope": 'a "b"'}, "the token's scope claim is malformed"),
    ],
)
def test_claims_of_the_wrong_type_are_invalid_token(
    claims: dict[str, Any], description: str
) -> None:
    with pytest.raises(InvalidTokenError) as info:
        verified_from_claims(claims)
    assert info.value.description == description


def test_claims_are_read_into_the_verified_token() -> None:
    verified = verified_from_claims({"scope": "", "exp": 12.5, "cnf": {"x5t#S256": "t"}})
    assert (verified.scopes, verified.expires_at, verified.cnf_thumbprint) == (frozenset(), 12, "t")
    assert (verified.client_id, verified.subject) == (None, None)


def test_insufficient_scope_names_every_required_scope_once() -> None:
    token = verified_from_claims({"scope": "a b"})
    require_scopes(token, ["a", "b", "a"])
    with pytest.raises(InsufficientScopeError) as info:
        require_scopes(token, ["a", "c", "c", "d"])
    assert (info.value.scope, info.value.detail) == ("a c d", "missing scope(s): c d")
    assert info.value.status_code == 403


async def test_cached_token_expires_at_its_exp(signer, peer) -> None:
    clock = [1_000_000.0]
    verifier = AccessTokenVerifier(StaticKeys(signer), audience="rs", clock=lambda: clock[0])
    token = mint(signer, cnf=peer.thumbprint, now=1_000_000, lifetime=10)
    await verifier.verify(token, peer)
    clock[0] += 9
    await verifier.verify(token, peer)
    clock[0] += 2  # past exp, inside the leeway: verified again, still accepted
    await verifier.verify(token, peer)
    clock[0] += 30
    with pytest.raises(InvalidTokenError, match="expired"):
        await verifier.verify(token, peer)
    assert (verifier.stats.signature_checks, verifier.stats.cache_hits) == (3, 1)


async def test_cache_is_bounded(signer, peer) -> None:
    verifier = AccessTokenVerifier(StaticKeys(signer), audience="rs", cache_size=1)
    first, second = (mint(signer, cnf=peer.thumbprint, jti=j) for j in ("1", "2"))
    for token in (first, second, first, first):
        await verifier.verify(token, peer, required_scopes=("read",))
    assert (verifier.stats.signature_checks, verifier.stats.cache_hits) == (3, 1)


async def test_invalid_tokens_are_not_cached(signer, peer) -> None:
    verifier = AccessTokenVerifier(StaticKeys(signer), audience="rs")
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "s", "aud": "rs", "client_id": "c", "iat": now}
    token = signer.encode({**claims, "exp": now + 60, "jti": "j", "cnf": "x"}, {"typ": "at+jwt"})
    for _ in range(2):
        with pytest.raises(InvalidTokenError, match="cnf"):
            await verifier.verify(token, peer)
    assert verifier.stats.signature_checks == 2


def test_verifiers_refuse_missing_identities(signer) -> None:
    with pytest.raises(ValueError, match="audience"):
        AccessTokenVerifier(StaticKeys(signer), audience="")
    with pytest.raises(ValueError, match="client_id"):
        IntrospectionVerifier(ISSUER, client_id="")


# --- JWK Set import and the introspection endpoint choice -------------------------------------


def test_jwks_import_keeps_only_signature_keys(signer) -> None:
    good = {**signer.public_jwk()}
    document = {
        "keys": [
            {**good, "use": "enc", "kid": "enc"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "sym"},
            {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "broken"},
            "not-an-object",
            good,
        ]
    }
    with structlog.testing.capture_logs() as logs:
        keys = _import_keys(document, "https://as.example/jwks")
    assert keys.kids == frozenset({signer.kid})
    assert [(e["event"], e["kid"]) for e in logs] == [("jwks_key_ignored", "broken")]


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (
            {
                "introspection_endpoint": "https://a/i",
                "mtls_endpoint_aliases": {"introspection_endpoint": "https://m/i"},
            },
            "https://m/i",
        ),
        ({"introspection_endpoint": "https://a/i", "mtls_endpoint_aliases": {}}, "https://a/i"),
        ({"introspection_endpoint": "https://a/i", "mtls_endpoint_aliases": "x"}, "https://a/i"),
    ],
)
def test_introspection_prefers_the_mtls_alias(metadata: dict[str, Any], expected: str) -> None:
    assert _endpoint_from(metadata, ISSUER) == expected


@pytest.mark.parametrize("metadata", [{}, {"introspection_endpoint": "http://a/i"}])
def test_introspection_needs_an_https_endpoint(metadata: dict[str, Any]) -> None:
    with pytest.raises(ResourceServerUnavailableError) as info:
        _endpoint_from(metadata, ISSUER)
    assert info.value.detail == f"{ISSUER} advertises no https introspection endpoint"
    assert info.value.status_code == 503


# --- per-route scopes -------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["", "a b", 'q"'])
def test_route_scopes_must_be_scope_tokens(scope: str) -> None:
    with pytest.raises(ValueError, match="scope-token"):
        requires_scopes(scope)
    with pytest.raises(ValueError, match="scope-token"):
        resource.require_token(scope)


async def test_route_without_the_middleware_fails_closed() -> None:
    @requires_scopes("read")
    async def endpoint(request: Request) -> Response:
        return JSONResponse({"open": True})

    app = Starlette(routes=[Route("/", endpoint)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://rs") as client:
        with pytest.raises(RuntimeError, match="CertificateBoundTokenMiddleware"):
            await client.get("/")
