#!/usr/bin/env python3
"""Resource-server bench target: one protected route behind certbound's RS middleware.

    python bench/targets/certbound-rs/app.py --port P --issuer https://127.0.0.1:AS --pki DIR

``GET /resource`` answers a small JSON body once :class:`CertificateBoundTokenMiddleware` has
taken the Bearer token, verified it with :class:`AccessTokenVerifier` (RFC 9068, the issuer's
JWKS from its discovery document, verified tokens cached until ``exp``) and checked its
``cnf.x5t#S256`` against the certificate of this TLS connection (RFC 8705 §3, every request).
Served by certbound's own TLS listener (uvicorn + uvloop + httptools, ASGI TLS extension) with the
bench PKI: server certificate, client certificates required and chained to the bench root.
Foreground, stops on SIGTERM. A benchmark fixture, not part of the product or the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def build_app(issuer: str, audience: str, ca: Path) -> Any:
    from starlette.types import Receive, Scope, Send

    from certbound.resource import (
        AccessTokenVerifier,
        CertificateBoundTokenMiddleware,
        RemoteJwks,
        access_token,
    )

    async def resource(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, verifier)
            return
        token = access_token(scope)
        body = json.dumps(
            {"resource": "bench", "client_id": token.client_id if token else None},
            separators=(",", ":"),
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    verifier = AccessTokenVerifier(RemoteJwks(issuer, verify=str(ca)), audience=audience)
    return CertificateBoundTokenMiddleware(resource, verifier, protected=["/resource"])


async def _lifespan(receive: Any, send: Any, verifier: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await verifier.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--issuer", required=True, help="the AS issuer URL (discovery, JWKS)")
    parser.add_argument("--audience", help="expected aud (default: the issuer)")
    parser.add_argument("--pki", type=Path, required=True, help="bench PKI directory")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from _listen import serve_on_bench_tls

    pki: Path = args.pki.resolve()
    app = build_app(args.issuer, args.audience or args.issuer, pki / "ca-bundle.pem")
    serve_on_bench_tls(app, args.host, args.port, pki, "resource")


if __name__ == "__main__":
    main()
