"""`certbound demo`: the whole RFC 8705 chain on this machine, in one command, step by step.

1. PKI: a development CA, a server certificate, the demo client certificate and a second client
   certificate from the same CA (``ensure_dev_environment`` + ``certbound.pki``).
2. Registration of ``demo-client`` (``tls_client_auth``, subject DN, scope ``read write``).
3. The authorization server (issuer + mTLS alias listeners) and 4. the example API, each on
   free 127.0.0.1 ports in this process.
5. A token from the client library (discovery, the mTLS alias, a token bound to the certificate).
6. An API call with that certificate and token: 200.
7. The same token over a TLS session with the other certificate: 401 ``invalid_token``.

Then everything stops. Exit 0 when steps 6 and 7 answered as expected, 1 otherwise. Nothing is
interactive. Without ``--data-dir`` the files live in a temporary directory removed at the end.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from certbound.cli._common import CliError, console
from certbound.cli._options import DataDirOpt

if TYPE_CHECKING:
    import httpx

    from certbound.cli._demo_servers import DemoServer
    from certbound.client import Client
    from certbound.server.bootstrap import DevEnvironment

__all__ = ["demo"]


def _step(number: int, text: str) -> None:
    console.print(f"\n[bold cyan]{number}.[/] {text}")


def _detail(text: str) -> None:
    console.print(f"     {text}")


@contextmanager
def _workspace(data_dir: Path | None) -> Iterator[Path]:
    if data_dir is not None:
        console.print(f"data directory {escape(str(data_dir))}")
        yield data_dir
        return
    with tempfile.TemporaryDirectory(prefix="certbound-demo-") as tmp:
        console.print(f"data directory {escape(tmp)} (temporary: removed at the end)")
        yield Path(tmp)


def _pki(directory: Path) -> tuple[DevEnvironment, tuple[Path, Path]]:
    from cryptography import x509

    from certbound.cli._demo_servers import OTHER_SUBJECT_DN, other_client
    from certbound.core.mtls.certificate import x5t_s256
    from certbound.server.bootstrap import DEMO_SUBJECT_DN, ensure_dev_environment

    env = ensure_dev_environment(directory)
    other = other_client(env)
    _step(1, "PKI: a development CA, a server certificate (localhost, 127.0.0.1), two clients")
    for name, subject, path in (
        ("demo-client ", DEMO_SUBJECT_DN, env.demo_chain),
        ("other-client", OTHER_SUBJECT_DN, other[0]),
    ):
        thumbprint = x5t_s256(x509.load_pem_x509_certificate(path.read_bytes()))
        _detail(f"{name}  {escape(subject)}  x5t#S256 {thumbprint}")
    return env, other


def _servers(stack: ExitStack, env: DevEnvironment) -> tuple[DemoServer, str]:
    from certbound.cli._demo_servers import start_authorization_server, start_example_api
    from certbound.server.bootstrap import DEMO_CLIENT_ID, DEMO_SUBJECT_DN

    server = start_authorization_server(stack, env)
    _step(
        2,
        f"Register [green]{DEMO_CLIENT_ID}[/]: tls_client_auth, subject DN "
        f"{escape(repr(DEMO_SUBJECT_DN))}, scope 'read write'",
    )
    _step(
        3,
        f"Authorization server: issuer {server.issuer} (certificate optional), "
        f"mTLS alias {server.mtls} (certificate required)",
    )
    api = start_example_api(stack, env, server)
    _step(
        4,
        f"Example API: {api} (tokens of {server.issuer}, audience {server.audience}; "
        "GET /accounts needs scope 'read')",
    )
    return server, api


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _call(client: Client, url: str) -> bool:
    with client.http() as api:
        response = api.get(url)
    _step(
        6,
        f"GET {url} with demo-client.pem and the token → [bold]{response.status_code} "
        f"{response.reason_phrase}[/]",
    )
    _detail(escape(json.dumps(_body(response))))
    return response.status_code == 200


def _replay(client: Client, url: str, other: tuple[Path, Path], ca: Path) -> bool:
    import httpx

    from certbound.client import load_client_identity

    token = client.token().access_token
    context = load_client_identity(*other).ssl_context(ca)
    with httpx.Client(verify=context, timeout=10.0) as http:
        response = http.get(url, headers={"Authorization": f"Bearer {token}"})
    _step(
        7,
        f"GET {url} with other-client.pem and the SAME token → [bold]"
        f"{response.status_code} {response.reason_phrase}[/]",
    )
    body = _body(response)
    error = body.get("error") if isinstance(body, dict) else None
    description = body.get("error_description") if isinstance(body, dict) else None
    _detail(escape(f"{error}: {description}"))
    _detail(escape(f"www-authenticate: {response.headers.get('www-authenticate')}"))
    return response.status_code == 401 and error == "invalid_token"


def _token_and_calls(env: DevEnvironment, issuer: str, api: str, other: tuple[Path, Path]) -> bool:
    from certbound.client import Client
    from certbound.server.bootstrap import DEMO_CLIENT_ID

    with Client(
        issuer, env.demo_chain, env.demo_key, client_id=DEMO_CLIENT_ID, ca=env.trust_anchors
    ) as client:
        token = client.token()
        metadata = client.source.metadata
        endpoint = client.source.token_endpoint(metadata) if metadata else "?"
        bound = token.cnf_thumbprint == client.thumbprint
        _step(
            5,
            f"Token: client_credentials at {endpoint} with demo-client.pem "
            "(client library: discovery, then the mTLS alias)",
        )
        _detail(
            f"cnf.x5t#S256 {token.cnf_thumbprint}"
            + (" = the certificate's thumbprint" if bound else " ≠ the certificate!")
        )
        _detail(f"scope {escape(repr(token.scope))}, expires in {token.expires_in} s")
        ok = _call(client, f"{api}/accounts")
        return _replay(client, f"{api}/accounts", other, env.trust_anchors) and ok and bound


def demo(data_dir: DataDirOpt = None) -> None:
    """Run the whole chain here: CA, certificates, registration, AS, API, token, call, refusal."""
    from certbound.ops.audit import configure_logging

    configure_logging(json_logs=False, level=logging.WARNING)
    console.print(
        "[bold]certbound demo[/] — certificate-bound access tokens (RFC 8705), "
        "end to end on this machine"
    )
    with _workspace(data_dir) as directory, ExitStack() as stack:
        env, other = _pki(directory)
        server, api = _servers(stack, env)
        ok = _token_and_calls(env, server.issuer, api, other)
    if not ok:
        raise CliError("the demo did not go as expected (see the steps above)")
    console.print(
        "\n[bold green]Done.[/] The token works only over a TLS session with the certificate it "
        "is bound to. The servers are stopped."
    )
    console.print(
        "Run the parts yourself: certbound serve · certbound example-api · certbound call "
        "(see docs/demo.md)."
    )
