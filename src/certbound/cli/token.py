"""`certbound token` and `certbound call`: get a certificate-bound token, call an API with it.

Both use :mod:`certbound.client`: discovery at ``--issuer``, the token endpoint's RFC 8705 §5
mTLS alias, and the same certificate for the token request and the API call (RFC 8705 §3).

Exit codes: 0 ok (``call``: a 2xx answer); 1 failure (an OAuth error, a non-2xx answer, an
unreachable server); 2 bad input (unreadable files, wrong passphrase, key ≠ certificate,
missing --client-id); 3 trust (the server's certificate is not trusted, or the server refused
the client certificate during the handshake).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from certbound.cli._common import EXIT_FAILURE, EXIT_USAGE, CliError, console, console_err
from certbound.core.mtls.certificate import X5T_S256

if TYPE_CHECKING:  # imported when a command runs: `certbound serve` never loads httpx for them
    from certbound.client import Client, TokenResponse

__all__ = ["call", "token"]

EXIT_TRUST = 3
CLIENT_ID_ENV = "CERTBOUND_CLIENT_ID"

IssuerOpt = Annotated[
    str, typer.Option("--issuer", help="The authorization server's issuer URL (https).")
]
CertOpt = Annotated[
    Path,
    typer.Option("--cert", help="Client certificate: PEM (chain, leaf first) or PKCS#12 (.p12)."),
]
KeyOpt = Annotated[
    Path | None,
    typer.Option("--key", help="Private key (default: in the --cert file).", show_default=False),
]
ClientIdOpt = Annotated[
    str | None,
    typer.Option("--client-id", envvar=CLIENT_ID_ENV, help="client_id (RFC 8705 §2 requires it)."),
]
ScopeOpt = Annotated[
    str | None, typer.Option("--scope", help="Space-separated scopes.", show_default=False)
]
CaOpt = Annotated[
    Path | None,
    typer.Option("--ca", help="CA that issued the servers' certificates (default: system CAs)."),
]
PassFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file", help="Passphrase of the key (else $CERTBOUND_KEY_PASSPHRASE)."
    ),
]


@contextmanager
def _client_errors() -> Iterator[None]:
    """Library errors → one-line CliError with the exit code of the module docstring."""
    import httpx

    from certbound.client import ClientConfigError, ClientError, TlsHandshakeError

    try:
        yield
    except ClientConfigError as exc:
        raise CliError(exc.message, EXIT_USAGE) from None
    except TlsHandshakeError as exc:
        raise CliError(exc.message, EXIT_TRUST) from None
    except ClientError as exc:
        raise CliError(exc.message, EXIT_FAILURE) from None
    except httpx.TransportError as exc:
        raise CliError(f"cannot reach {exc.request.url}: {exc or type(exc).__name__}") from None


def _open(
    issuer: str,
    cert: Path,
    key: Path | None,
    client_id: str | None,
    scope: str | None,
    ca: Path | None,
    passphrase_file: Path | None,
) -> Client:
    if not client_id:
        raise CliError(f"--client-id is required (or set {CLIENT_ID_ENV})", EXIT_USAGE)
    from certbound.client import Client

    return Client(
        issuer,
        cert,
        key,
        client_id=client_id,
        scope=scope,
        ca=ca,
        passphrase_file=passphrase_file,
    )


def token(
    issuer: IssuerOpt,
    cert: CertOpt,
    key: KeyOpt = None,
    client_id: ClientIdOpt = None,
    scope: ScopeOpt = None,
    ca: CaOpt = None,
    passphrase_file: PassFileOpt = None,
    decode: Annotated[
        bool, typer.Option("--decode", help="Show the token's header and claims (unverified).")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Get an access token with the client certificate (client_credentials, RFC 8705)."""
    with _client_errors(), _open(issuer, cert, key, client_id, scope, ca, passphrase_file) as c:
        response = c.token()
        metadata = c.source.metadata
        endpoint = c.source.token_endpoint(metadata) if metadata else ""
        alias = metadata is not None and metadata.is_alias(endpoint)
    if json_out:
        out: dict[str, Any] = {"token_endpoint": endpoint, "mtls_alias": alias}
        out["response"] = dict(response.raw)
        if decode:
            out |= {"header": response.header, "claims": response.claims}
            out |= {"certificate_x5t#S256": c.thumbprint, **_binding(response, c.thumbprint)}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return
    where = " (mTLS alias)" if alias else ""
    console.print(f"token endpoint: {endpoint}{where}", markup=False)
    for name, value in response.raw.items():
        console.print(f"{name}: {value}", markup=False)
    if decode:
        _print_decoded(response, c.thumbprint)


def _binding(response: TokenResponse, thumbprint: str) -> dict[str, Any]:
    cnf = response.cnf_thumbprint
    return {"cnf_matches_certificate": None if cnf is None else cnf == thumbprint}


def _print_decoded(response: TokenResponse, thumbprint: str) -> None:
    if response.claims is None:
        console.print("[yellow]the access token is not a JWT: nothing to decode[/]")
        return
    console.print("header (unverified):")
    console.print_json(json.dumps(response.header))
    console.print("claims (unverified):")
    console.print_json(json.dumps(response.claims))
    cnf = None if response.cnf_thumbprint is None else escape(response.cnf_thumbprint)
    if cnf is None:
        console.print(f"[yellow]cnf {X5T_S256}: absent, the token is not certificate-bound[/]")
    elif response.cnf_thumbprint == thumbprint:
        console.print(f"[green]cnf {X5T_S256}: {cnf} (matches this certificate)[/]")
    else:
        console.print(
            f"[red]cnf {X5T_S256}: {cnf} (does NOT match this certificate, {thumbprint})[/]"
        )


def call(
    url: Annotated[str, typer.Argument(help="The API URL.")],
    issuer: IssuerOpt,
    cert: CertOpt,
    key: KeyOpt = None,
    client_id: ClientIdOpt = None,
    scope: ScopeOpt = None,
    ca: CaOpt = None,
    passphrase_file: PassFileOpt = None,
    method: Annotated[
        str | None, typer.Option("--request", "-X", help="HTTP method (default GET, POST with -d).")
    ] = None,
    data: Annotated[
        list[str] | None,
        typer.Option("--data", "-d", help="Request body (@file, @- for stdin); repeatable."),
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", help="'Name: value'; repeatable.")
    ] = None,
    include: Annotated[
        bool, typer.Option("--include", "-i", help="Print the response headers too.")
    ] = False,
) -> None:
    """Call an API with a certificate-bound token over the same certificate (curl-like)."""
    headers = _headers(header or [])
    body = _body(data or [])
    if body is not None:
        headers.setdefault("content-type", "application/x-www-form-urlencoded")
    verb = (method or ("POST" if body is not None else "GET")).upper()
    with (
        _client_errors(),
        _open(issuer, cert, key, client_id, scope, ca, passphrase_file) as c,
        c.http() as api,
    ):
        response = api.request(verb, url, content=body, headers=headers)
    status = f"HTTP {response.status_code} {response.reason_phrase}"
    if include:
        console.print(status, markup=False)
        for name, value in response.headers.multi_items():
            console.print(f"{name}: {value}", markup=False)
        console.print()
    for challenge in response.headers.get_list("www-authenticate"):
        console_err.print(f"www-authenticate: {challenge}", markup=False)
    _write_body(response.content)
    if not response.is_success:
        raise CliError(f"the server answered {status}", EXIT_FAILURE)
    if not include:
        console_err.print(status, markup=False)


def _write_body(content: bytes) -> None:
    """The body as received (bytes) when stdout has a binary layer, else decoded."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(content.decode("utf-8", errors="replace"))
        return
    buffer.write(content)
    buffer.flush()


def _headers(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise CliError(f"bad header {line!r}: use 'Name: value'", EXIT_USAGE)
        out[name.strip().lower()] = value.strip()
    return out


def _body(items: list[str]) -> bytes | None:
    """curl's -d: joined with '&'; '@file' reads a file and '@-' stdin."""
    if not items:
        return None
    parts: list[bytes] = []
    for item in items:
        if item == "@-":
            parts.append(sys.stdin.buffer.read())
        elif item.startswith("@"):
            try:
                parts.append(Path(item[1:]).read_bytes())
            except OSError as exc:
                raise CliError(
                    f"cannot read {item[1:]}: {exc.strerror or exc}", EXIT_USAGE
                ) from None
        else:
            parts.append(item.encode("utf-8"))
    return b"&".join(parts)
