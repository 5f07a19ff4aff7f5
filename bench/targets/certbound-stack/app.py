#!/usr/bin/env python3
"""The floor under certbound's token endpoint: its own TLS listener (uvicorn + uvloop + httptools,
certbound's TLS protocol and ASGI TLS extension, client certificate required) answering every
request with a fixed token-sized JSON body, without authentication, signing or logging.

    python bench/targets/certbound-stack/app.py --port P --pki DIR

``certbound`` minus ``certbound-stack`` in the same run is what the authorization server's own work
costs per request. A benchmark fixture, not part of the product or the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

_BODY = json.dumps(
    {"access_token": "e" * 540, "token_type": "Bearer", "expires_in": 600, "scope": "api:read"}
).encode()
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"content-length", b"%d" % len(_BODY)),
]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pki", type=Path, required=True, help="bench PKI directory")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from _listen import serve_on_bench_tls

    serve_on_bench_tls(app, args.host, args.port, args.pki, "stack")


if __name__ == "__main__":
    main()
