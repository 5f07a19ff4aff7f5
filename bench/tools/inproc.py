#!/usr/bin/env python3
"""In-process cost of one token request through certbound's ASGI app (no sockets, no TLS).

    .venv/bin/python bench/tools/inproc.py --pki bench/.harness/pki [-n 5000] [--profile cprofile|pyinstrument]

Builds the server exactly as ``certbound serve`` does (``Runtime.prepare`` + ``runtime.app()`` on a
fresh data directory with the PKI's tls_client_auth clients registered), runs the lifespan, then
sends ``-n`` ``POST /token`` requests straight into the ASGI app with the ASGI TLS extension that
certbound's TLS protocol adds (client certificate chain as PEM). Prints microseconds per request:
the Python part of the server's per-request CPU, which the socket benchmark cannot isolate on a
noisy machine. A development tool, not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _chain_pems(pki: Path, entry: dict[str, Any]) -> list[str]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    certs = x509.load_pem_x509_certificates((pki / entry["chain"]).read_bytes())
    return [c.public_bytes(Encoding.PEM).decode() for c in certs]


def _wrap_client_store() -> None:
    """What the composition root does once it wires the cache: the Provider's client store is a
    CachingClientStore (measurement aid for this tool only)."""
    import certbound.config.runtime as runtime_module
    from certbound.core.client_auth import CachingClientStore

    provider_cls = runtime_module.Provider

    def provider(*a: Any, clients: Any, **kw: Any) -> Any:
        return provider_cls(*a, clients=CachingClientStore(clients), **kw)

    runtime_module.Provider = provider  # type: ignore[assignment,misc]


async def _run(args: argparse.Namespace) -> None:
    from certbound.config.runtime import Runtime, TlsFiles
    from certbound.config.settings import load_settings
    from certbound.core.clients import TLS_CLIENT_AUTH, Client

    pki = args.pki.resolve()
    manifest = json.loads((pki / "clients.json").read_text())
    entries = manifest["clients"][: args.clients]
    data = Path(tempfile.mkdtemp(prefix="cb-inproc-"))
    settings = load_settings(None, {"data_dir": data, "server.issuer": "https://127.0.0.1:9443"})
    files = TlsFiles(pki / "server-chain.pem", pki / "server.key", pki / "client-trust.pem")
    clients = tuple(
        Client(
            client_id=e["client_id"],
            token_endpoint_auth_method=TLS_CLIENT_AUTH,
            tls_client_auth_subject_dn=e["tls_client_auth_subject_dn"],
            scope=("api:read",),
        )
        for e in entries
    )
    if args.auth_cache:
        _wrap_client_store()
    runtime = Runtime.prepare(settings, files, register_on_start=clients)
    app = runtime.app()
    if args.stub_provider:  # the server layers only: a provider answering a fixed token response
        from certbound.certsource.trusted_proxy import TrustedProxies
        from certbound.core.messages import Response
        from certbound.server.app import create_app

        fixed = Response(
            200,
            {"access_token": "e" * 540, "token_type": "Bearer", "expires_in": 600},
            {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

        class _Stub:
            async def handle(self, endpoint: str, request: Any) -> Response:
                assert request.peer is not None
                return fixed

        stub = _Stub()
        app = create_app(lambda: stub, trusted_proxies=TrustedProxies.from_cidrs(()))
    requests = []
    for e in entries:
        body = f"grant_type=client_credentials&client_id={e['client_id']}".encode()
        tls = {
            "client_cert_chain": _chain_pems(pki, e),
            "tls_version": 0x0304,
            "cipher_suite": 0x1302,
            "server_cert": None,
        }
        requests.append((body, tls))

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def one(i: int) -> int:
        body, tls = requests[i % len(requests)]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "https",
            "path": "/token",
            "raw_path": b"/token",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1:9443"),
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 50000 + i % 16),
            "server": ("127.0.0.1", 9443),
            "extensions": {"tls": dict(tls, client_cert_chain=list(tls["client_cert_chain"]))},
            "state": {},
        }
        delivered = False

        async def receive() -> Any:
            nonlocal delivered
            if delivered:
                await asyncio.sleep(3600)
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        sent.clear()
        await app(scope, receive, send)
        return int(sent[0]["status"])

    lifespan_q: asyncio.Queue[Any] = asyncio.Queue()
    await lifespan_q.put({"type": "lifespan.startup"})
    lifespan_out: asyncio.Queue[Any] = asyncio.Queue()
    life = asyncio.ensure_future(
        app(
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
            lifespan_q.get,
            lifespan_out.put,
        )
    )
    started = await lifespan_out.get()
    assert started["type"] == "lifespan.startup.complete", started
    for i in range(200):  # warm-up
        status = await one(i)
        assert status == 200, (status, sent)
    profiler: Any = None
    if args.profile == "cprofile":
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    elif args.profile == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
        profiler.start()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(args.n):
        await one(i)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if args.profile == "cprofile":
        import pstats

        profiler.disable()
        if args.profile_out is not None:
            profiler.dump_stats(args.profile_out)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(45)
    elif args.profile == "pyinstrument":
        profiler.stop()
        sys.stderr.write(profiler.output_text(unicode=True, color=False, show_all=False))
    print(
        f"{args.n} requests: {1e6 * wall / args.n:.0f} us wall, {1e6 * cpu / args.n:.0f} us CPU"
        f" per request ({args.n / wall:.0f} req/s on one core)"
    )
    await lifespan_q.put({"type": "lifespan.shutdown"})
    await lifespan_out.get()
    await life


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pki", type=Path, required=True, help="bench PKI directory (clients.json)"
    )
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument(
        "--auth-cache", action="store_true", help="the Provider over a CachingClientStore"
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--profile", choices=("none", "cprofile", "pyinstrument"), default="none")
    parser.add_argument(
        "--profile-out", type=Path, help="with --profile cprofile: also write the pstats file here"
    )
    parser.add_argument(
        "--stub-provider", action="store_true", help="measure the server layers only"
    )
    parser.add_argument(
        "--json-logs", action="store_true", help="JSON log lines (serve --json-logs)"
    )
    parser.add_argument(
        "--quiet-logs", action="store_true", help="audit log to /dev/null (default: stderr)"
    )
    args = parser.parse_args()
    if not 1 <= args.n <= 1_000_000:
        parser.error("-n must be 1..1000000")

    from certbound.ops.audit import configure_logging

    configure_logging(json_logs=args.json_logs)
    if args.quiet_logs:
        configure_logging(json_logs=args.json_logs, stream=open("/dev/null", "w"))  # noqa: SIM115
    try:
        import uvloop

        uvloop.run(_run(args))
    except ImportError:
        asyncio.run(_run(args))


if __name__ == "__main__":
    main()
