"""Resource-server fixtures: a fake authorization server and protected apps on real TLS listeners.

Everything listens on 127.0.0.1 with the test PKI's server certificate. The fake AS serves RFC 8414
metadata, the JWK Set of a :class:`LocalSigner` and a small RFC 7662 introspection endpoint (mTLS
listener only, client certificate required). Protected apps run the real middleware with a real
verifier; clients are httpx with the test clients' certificate chains.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from certbound.certsource import TrustedProxies, peer_from_asgi_scope
from certbound.core.mtls.certificate import x5t_s256
from certbound.core.tokens.access_token import issue_access_token
from certbound.keys import KeySet, LocalSigner
from certbound.resource import (
    CertificateBoundTokenMiddleware,
    TokenVerifier,
    require_token,
    requires_scopes,
)
from certbound.server.listeners import ListenerGroup, ListenerSpec
from certbound.server.tls import TrustMaterial, build_server_context
from testpki import Issued, make_leaf

TIMEOUT = 5.0
AUDIENCE = "https://rs.example"
RS_CLIENT_ID = "resource-server-1"
STEMS = ("server", "client", "other_client")
NO_PROXIES = TrustedProxies()


class Clock:
    """A settable clock (seconds); shared between the test thread and the server loop."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Files:
    dir: Path

    def pair(self, stem: str) -> tuple[Path, Path]:
        return self.dir / f"{stem}.pem", self.dir / f"{stem}.key"

    @property
    def root(self) -> Path:
        return self.dir / "root.pem"

    def context(self, stem: str | None) -> ssl.SSLContext:
        """A client context trusting the test root, presenting ``stem``'s chain if given."""
        ctx = ssl.create_default_context(cafile=self.root)
        if stem is not None:
            ctx.load_cert_chain(*self.pair(stem))
        return ctx


@pytest.fixture(scope="session")
def rs_cert(pki) -> Issued:
    """The resource server's own client certificate (for introspection over mTLS)."""
    return make_leaf(pki.intermediate, RS_CLIENT_ID)


@pytest.fixture(scope="session")
def files(pki, rs_cert: Issued, tmp_path_factory: pytest.TempPathFactory) -> Files:
    d = tmp_path_factory.mktemp("resource-pki")
    for stem in STEMS:
        getattr(pki, stem).write(d, stem)
    rs_cert.write(d, "rs")
    (d / "root.pem").write_bytes(pki.root.pem)
    return Files(d)


@contextlib.contextmanager
def serve(app: Any, files: Files, listeners: dict[str, bool]) -> Iterator[dict[str, int]]:
    """Run ``app`` on one TLS listener per name (value: client certificate required)."""
    trust = TrustMaterial.from_pem_file(files.root)
    cert, key = files.pair("server")
    specs = [
        ListenerSpec(
            "127.0.0.1",
            0,
            build_server_context(cert, key, trust=trust, require_client_cert=required),
            name,
        )
        for name, required in listeners.items()
    ]
    group = ListenerGroup(app, specs, http="httptools", lifespan="on", timeout_graceful_shutdown=1)
    thread = threading.Thread(target=group.run, args=("uvloop",), daemon=True)
    thread.start()
    try:
        assert group.wait_started(TIMEOUT), "listeners did not start"
        yield {name: address[1] for name, address in group.addresses.items()}
    finally:
        group.request_stop()
        thread.join(10)
        assert not thread.is_alive(), "listeners did not stop"


# --- the fake authorization server ------------------------------------------------------------


@dataclass
class FakeAs:
    """What the fake AS serves, and what it saw. Tests mutate it (restoring it afterwards)."""

    signer: LocalSigner
    published: list[LocalSigner]
    rs_thumbprint: str
    issuer: str = ""
    mtls_base: str = ""
    metadata_overrides: dict[str, Any] = field(default_factory=dict)  # None values: removed
    jwks_reply: tuple[int, bytes] | None = None  # None: the JWK Set of ``published``
    oauth_metadata: bool = True  # False: only /.well-known/openid-configuration answers
    introspection: dict[str, dict[str, Any]] = field(default_factory=dict)
    jwks_fetches: int = 0
    metadata_fetches: int = 0
    introspections: list[dict[str, str]] = field(default_factory=list)
    introspection_urls: list[str] = field(default_factory=list)

    def token(
        self,
        cnf: str | None,
        *,
        scope: tuple[str, ...] = ("orders:read",),
        signer: LocalSigner | None = None,
        **overrides: Any,
    ) -> str:
        """An RFC 9068 token of this issuer for :data:`AUDIENCE`, bound to ``cnf``."""
        options: dict[str, Any] = {
            "issuer": self.issuer,
            "client_id": "client-1",
            "subject": "client-1",
            "audience": AUDIENCE,
            "scope": scope,
            "lifetime": 300,
            "now": int(time.time()),
            "cnf_thumbprint": cnf,
        }
        options.update(overrides)
        return issue_access_token(signer or self.signer, **options).token

    def metadata(self) -> dict[str, Any]:
        document = {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/jwks",
            "introspection_endpoint": f"{self.issuer}/introspect",
            "mtls_endpoint_aliases": {"introspection_endpoint": f"{self.mtls_base}/introspect"},
            **self.metadata_overrides,
        }
        return {k: v for k, v in document.items() if v is not None}


def fake_as_app(state: FakeAs) -> Starlette:
    async def oauth_metadata(request: Request) -> Response:
        state.metadata_fetches += 1
        if not state.oauth_metadata:
            return JSONResponse({"error": "not found"}, 404)
        return JSONResponse(state.metadata())

    async def oidc_metadata(request: Request) -> Response:
        state.metadata_fetches += 1
        return JSONResponse(state.metadata())

    async def jwks(request: Request) -> Response:
        state.jwks_fetches += 1
        if state.jwks_reply is not None:
            status, body = state.jwks_reply
            return Response(body, status, media_type="application/json")
        return JSONResponse(KeySet(state.published).jwks())

    async def introspect(request: Request) -> Response:
        peer = peer_from_asgi_scope(request.scope)
        if peer is None or peer.thumbprint != state.rs_thumbprint:
            return JSONResponse({"error": "invalid_client"}, 401)
        form = dict(parse_qsl((await request.body()).decode("ascii")))
        state.introspections.append(form)
        state.introspection_urls.append(str(request.url))
        return JSONResponse(state.introspection.get(form.get("token", ""), {"active": False}))

    return Starlette(
        routes=[
            Route("/.well-known/oauth-authorization-server", oauth_metadata),
            Route("/.well-known/openid-configuration", oidc_metadata),
            Route("/jwks", jwks),
            Route("/introspect", introspect, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="module")
def fake_as(rs_cert: Issued, files: Files) -> Iterator[FakeAs]:
    signer = LocalSigner.generate("ES256")
    state = FakeAs(signer, [signer], x5t_s256(rs_cert.cert))
    with serve(fake_as_app(state), files, {"issuer": False, "mtls": True}) as ports:
        state.issuer = f"https://127.0.0.1:{ports['issuer']}"
        state.mtls_base = f"https://127.0.0.1:{ports['mtls']}"
        yield state


# --- the protected resource -------------------------------------------------------------------


async def whoami(request: Request) -> Response:
    token = request.state.access_token
    return JSONResponse(
        {
            "client_id": token.client_id,
            "sub": token.subject,
            "scopes": sorted(token.scopes),
            "cnf": token.cnf_thumbprint,
            "peer": peer.thumbprint if (peer := request.state.peer_certificate) else None,
        }
    )


@requires_scopes("orders:write")
async def write_order(request: Request) -> Response:
    return JSONResponse({"written": True})


@requires_scopes("orders:read")
def read_orders_sync(request: Request) -> Response:
    return JSONResponse({"orders": [], "client_id": request.state.access_token.client_id})


async def admin(request: Request) -> Response:
    token = await require_token("admin", realm="orders")(request)
    return JSONResponse({"admin": token.client_id})


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True, "token": getattr(request.state, "access_token", None)})


def protected_app(
    verifier: TokenVerifier, trusted_proxies: TrustedProxies = NO_PROXIES
) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        await verifier.aclose()

    return Starlette(
        routes=[
            Route("/api/whoami", whoami),
            Route("/api/orders", write_order, methods=["POST"]),
            Route("/api/orders", read_orders_sync, methods=["GET"]),
            Route("/api/admin", admin),
            Route("/health", health),
        ],
        middleware=[
            Middleware(
                CertificateBoundTokenMiddleware,
                verifier,
                trusted_proxies=trusted_proxies,
                protected=["/api"],
                realm="orders",
            )
        ],
        lifespan=lifespan,
    )


@dataclass(frozen=True)
class Resource:
    """A running protected app: ``mtls`` requires a client certificate, ``optional`` asks."""

    ports: dict[str, int]
    files: Files

    def url(self, path: str, listener: str = "mtls") -> str:
        return f"https://127.0.0.1:{self.ports[listener]}{path}"

    def request(
        self,
        stem: str | None,
        path: str = "/api/whoami",
        *,
        token: str | None = None,
        method: str = "GET",
        listener: str = "mtls",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        with httpx.Client(verify=self.files.context(stem), timeout=TIMEOUT) as client:
            return client.request(method, self.url(path, listener), headers=all_headers)


@contextlib.contextmanager
def run_resource(files: Files, verifier: TokenVerifier) -> Iterator[Resource]:
    """Serve :func:`protected_app` with ``verifier`` until the block ends (verifier closed)."""
    with serve(protected_app(verifier), files, {"mtls": True, "optional": False}) as ports:
        yield Resource(ports, files)


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(response.content)
    return body
