"""The servers of `certbound demo`: its PKI files, the authorization server, the example API.

Everything runs in this process, in background threads, on free 127.0.0.1 ports, and stops
when the ``ExitStack`` the caller passes closes.
"""

from __future__ import annotations

import datetime as dt
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from certbound.cli._common import EXIT_USAGE, CliError

if TYPE_CHECKING:
    from certbound.config.runtime import Runtime
    from certbound.core.clients import Client as Registration
    from certbound.server.bootstrap import DevEnvironment

__all__ = [
    "HOST",
    "OTHER_SUBJECT_DN",
    "DemoServer",
    "other_client",
    "start_authorization_server",
    "start_example_api",
]

HOST = "127.0.0.1"
OTHER_SUBJECT_DN = "CN=other-client,O=certbound demo"


@dataclass(frozen=True, slots=True)
class DemoServer:
    """The running AS: its issuer, its mTLS alias base URL and the ``aud`` of its tokens."""

    issuer: str
    mtls: str
    audience: str


def other_client(env: DevEnvironment) -> tuple[Path, Path]:
    """A second client certificate from the development CA (created once): chain, key."""
    from certbound.pki import (
        LeafSpec,
        OutputFile,
        encode_private_key,
        issue_certificate,
        load_ca,
        parse_subject,
        write_outputs,
    )

    chain = env.data_dir / "demo" / "other-client.pem"
    key = env.data_dir / "demo" / "other-client.key"
    if not chain.exists():
        spec = LeafSpec(subject=parse_subject(OTHER_SUBJECT_DN), validity=dt.timedelta(days=30))
        issued = issue_certificate(load_ca(env.ca_dir, None), spec)
        outputs = [
            OutputFile(chain, issued.chain_pem()),
            OutputFile(key, encode_private_key(issued.private_key, None), private=True),
        ]
        write_outputs(outputs, force=True)
    return chain, key


def _registration() -> Registration:
    """demo-client as ``certbound serve`` registers it on its first run."""
    from certbound.core.clients import TLS_CLIENT_AUTH, Client
    from certbound.server.bootstrap import DEMO_CLIENT_ID, DEMO_SUBJECT_DN

    return Client(
        client_id=DEMO_CLIENT_ID,
        token_endpoint_auth_method=TLS_CLIENT_AUTH,
        tls_client_auth_subject_dn=DEMO_SUBJECT_DN,
        scope=("read", "write"),
        client_name="certbound demo client",
    )


def _runtime(env: DevEnvironment, issuer: str, mtls: str) -> Runtime:
    from certbound.config.runtime import Runtime, TlsFiles
    from certbound.config.settings import ConfigError, load_settings

    files = TlsFiles(env.server_chain, env.server_key, env.trust_anchors)
    overrides = {
        "data_dir": env.data_dir,
        "server.host": HOST,
        "server.issuer": issuer,
        "server.mtls_base_url": mtls,
        "tls.cert": files.server_chain,
        "tls.key": files.server_key,
        "trust.anchors": files.anchors,
        "storage.database_url": f"sqlite+aiosqlite:///{env.data_dir / 'certbound.db'}",
    }
    try:
        settings = load_settings(None, overrides)
        return Runtime.prepare(settings, files, register_on_start=(_registration(),))
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def start_authorization_server(stack: ExitStack, env: DevEnvironment) -> DemoServer:
    """Register demo-client and run the issuer and mTLS alias listeners until ``stack`` closes."""
    from certbound.cli._resource_server import background_listeners, bind
    from certbound.server.tls import DynamicServerContext

    issuer_sock, mtls_sock = bind(HOST, 0), bind(HOST, 0)
    stack.callback(issuer_sock.close)
    stack.callback(mtls_sock.close)
    issuer = f"https://{HOST}:{issuer_sock.getsockname()[1]}"
    mtls = f"https://{HOST}:{mtls_sock.getsockname()[1]}"
    runtime = _runtime(env, issuer, mtls)
    issuer_ctx, mtls_ctx = (
        DynamicServerContext(
            env.server_chain, env.server_key, trust=runtime.trust, require_client_cert=required
        )
        for required in (False, True)
    )
    listeners = {"issuer": (issuer_sock, issuer_ctx), "mtls": (mtls_sock, mtls_ctx)}
    stack.enter_context(background_listeners(runtime.app(), listeners))
    audiences = runtime.settings.tokens.audience
    return DemoServer(issuer, mtls, audiences[0] if audiences else issuer)


def start_example_api(stack: ExitStack, env: DevEnvironment, server: DemoServer) -> str:
    """Run the example API (tokens of ``server``) until ``stack`` closes; its URL."""
    from certbound.cli._resource_server import (
        ServerFiles,
        background_listeners,
        bind,
        jwt_verifier,
        server_context,
    )
    from certbound.examples import create_example_api

    root = env.trust_anchors
    files = ServerFiles(env.server_chain, env.server_key, root, root, development=True)
    context = server_context(files, require_client_cert=False)
    app = create_example_api(jwt_verifier(server.issuer, audience=server.audience, ca=root))
    sock = bind(HOST, 0)
    stack.callback(sock.close)
    stack.enter_context(background_listeners(app, {"api": (sock, context)}))
    return f"https://{HOST}:{sock.getsockname()[1]}"
