"""Memory fakes of the core's ports for the token-flow tests (client auth, grants, token endpoint,
introspection, revocation, provider), plus helpers that build real requests, real JWK Sets from
the test PKI and real JWS client assertions."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jws
from joserfc.jwk import ECKey

from certbound.core.clients import Client
from certbound.core.messages import Request
from certbound.core.mtls.certificate import CertificateSource, PeerCertificate
from certbound.core.ports import JwksFetchError, TokenSigner
from certbound.core.tokens.access_token import IssuedAccessToken, issue_access_token
from testpki import Issued

FORM = "application/x-www-form-urlencoded"


class DictClientStore:
    """The ClientStore port over a dict."""

    def __init__(self, *clients: Client) -> None:
        self._clients = {c.client_id: c for c in clients}
        self._revision = 0

    async def get(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    async def add(self, client: Client) -> None:
        self._clients[client.client_id] = client
        self._revision += 1

    async def update(self, client: Client) -> None:
        self._clients[client.client_id] = client
        self._revision += 1

    async def remove(self, client_id: str) -> bool:
        self._revision += 1
        return self._clients.pop(client_id, None) is not None

    async def list(self) -> list[Client]:
        return list(self._clients.values())

    async def revision(self) -> int:
        return self._revision


class EventLog:
    """The EventSink port: keeps every event in order."""

    def __init__(self) -> None:
        self.events: list[object] = []

    def emit(self, event: object) -> None:
        self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


class ScriptedJwksFetcher:
    """The JwksFetcher port: answers each call with the next scripted document (or error), the last
    one repeating; records every (uri, force) call."""

    def __init__(self, *answers: Mapping[str, Any] | JwksFetchError) -> None:
        self._answers = list(answers)
        self.calls: list[tuple[str, bool]] = []

    async def fetch(self, uri: str, *, force: bool = False) -> Mapping[str, Any]:
        self.calls.append((uri, force))
        answer = self._answers[min(len(self.calls), len(self._answers)) - 1]
        if isinstance(answer, JwksFetchError):
            raise answer
        return answer


def peer_of(issued: Issued) -> PeerCertificate:
    return PeerCertificate(issued.chain, CertificateSource.TLS)


def jwk_with_x5c(cert: x509.Certificate) -> dict[str, Any]:
    """The certificate's public key as a JWK carrying the certificate in ``x5c`` (RFC 7517 §4.7)."""
    jwk = dict(ECKey.import_key(cert.public_key()).as_dict(private=False))  # type: ignore[arg-type]
    jwk["x5c"] = [base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii")]
    return jwk


def jwks_of(*certs: x509.Certificate) -> dict[str, Any]:
    return {"keys": [jwk_with_x5c(c) for c in certs]}


def token_request(
    body: str | bytes = "grant_type=client_credentials&client_id=client-1",
    *,
    peer: PeerCertificate | None = None,
    method: str = "POST",
    content_type: str | None = FORM,
    headers: Mapping[str, str] | None = None,
) -> Request:
    all_headers = dict(headers or {})
    if content_type is not None:
        all_headers["content-type"] = content_type
    return Request(
        method=method,
        path="/token",
        headers=all_headers,
        body=body.encode() if isinstance(body, str) else body,
        peer=peer,
        base_url="https://mtls.as.example.com",
    )


def tls_client(
    client_id: str = "client-1",
    *,
    grant_types: Sequence[str] = ("client_credentials",),
    scope: Sequence[str] = (),
    **fields: Any,
) -> Client:
    """A tls_client_auth client; by default identified by the subject DN of ``pki.client``."""
    if not any(k.startswith("tls_client_auth_") for k in fields):
        fields["tls_client_auth_subject_dn"] = "CN=client-1,O=certbound tests"
    return Client(
        client_id=client_id,
        token_endpoint_auth_method="tls_client_auth",
        grant_types=tuple(grant_types),
        scope=tuple(scope),
        **fields,
    )


def self_signed_client(client_id: str = "self-1", **fields: Any) -> Client:
    return Client(
        client_id=client_id, token_endpoint_auth_method="self_signed_tls_client_auth", **fields
    )


class DictRevokedTokenStore:
    """The RevokedTokenStore port over a dict of jti → expires_at."""

    def __init__(self) -> None:
        self.revoked: dict[str, int] = {}

    async def revoke(self, jti: str, expires_at: int) -> None:
        self.revoked[jti] = max(expires_at, self.revoked.get(jti, expires_at))

    async def is_revoked(self, jti: str) -> bool:
        return jti in self.revoked


class SetReplayCache:
    """The ReplayCache port over a dict; records every use."""

    def __init__(self) -> None:
        self.used: dict[str, int] = {}

    async def use(self, jti: str, expires_at: int) -> bool:
        if jti in self.used:
            return False
        self.used[jti] = expires_at
        return True


def sign_jws(
    key: Any, claims: Mapping[str, Any] | bytes, *, alg: str = "ES256", **header: Any
) -> str:
    """A compact JWS of ``claims`` (JSON, or raw bytes) signed with the joserfc ``key``."""
    payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    return jws.serialize_compact({"alg": alg, **header}, payload, key, algorithms=[alg])


def public_jwks(*keys: Any) -> dict[str, Any]:
    """The JWK Set of the public halves of joserfc ``keys`` (with their kids)."""
    return {"keys": [k.as_dict(private=False) for k in keys]}


def form_request(
    path: str,
    body: str,
    *,
    peer: PeerCertificate | None = None,
    headers: Mapping[str, str] | None = None,
    base_url: str = "https://mtls.as.example.com",
) -> Request:
    """A POST form request to ``path`` (introspection, revocation, …)."""
    return Request(
        method="POST",
        path=path,
        headers={"content-type": FORM, **(headers or {})},
        body=body.encode(),
        peer=peer,
        base_url=base_url,
    )


class FixedClock:
    """The Clock port, stopped at ``at``."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at.timestamp()


def issue_token(
    signer: TokenSigner,
    client_id: str,
    *,
    now: dt.datetime,
    lifetime: int = 600,
    cnf: str | None = None,
    issuer: str = "https://as.example.com",
    audience: str = "https://as.example.com",
    scope: tuple[str, ...] = ("read",),
) -> IssuedAccessToken:
    """An access token as the client_credentials grant issues it (RFC 9068, RFC 8705 §3.1)."""
    return issue_access_token(
        signer,
        issuer=issuer,
        client_id=client_id,
        subject=client_id,
        audience=audience,
        scope=scope,
        lifetime=lifetime,
        now=int(now.timestamp()),
        cnf_thumbprint=cnf,
    )
