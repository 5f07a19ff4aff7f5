"""certbound.client and `certbound token` / `call` against the REAL authorization server.

The AS runs both listeners on 127.0.0.1 (issuer: certificate optional; mTLS alias: required);
clients are registered through the real CLI. The API is a tiny Starlette app on its own mTLS
listener that verifies the token's signature with the AS's keys and its ``cnf`` against the
certificate of the connection (RFC 8705 §3), and can reject a token to exercise the retry.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import ssl
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from asserver import AsServer
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from certbound.cli import main
from certbound.client import (
    AsyncClient,
    Client,
    ClientConfigError,
    DiscoveryError,
    HandshakeRefusedError,
    OAuthClientError,
    ServerNotTrustedError,
    TokenSource,
    load_client_identity,
)
from certbound.core.mtls.certificate import x5t_s256
from certbound.pki import encode_private_key, export_pkcs12
from certbound.server.listeners import ListenerGroup, ListenerSpec
from certbound.server.tls import DynamicServerContext, DynamicTrust
from conftest import PkiFiles

pytestmark = pytest.mark.e2e

CLEARED_ENV = ("CERTBOUND_CLIENT_ID", "CERTBOUND_KEY_PASSPHRASE", "COLUMNS")
INVALID_TOKEN = 'Bearer error="invalid_token", error_description="rejected by the test API"'


# --- the real CLI, in-process (the console script's main()) -----------------------------------


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str | Path, env: dict[str, str] | None = None) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_env = sys.argv, {k: os.environ.pop(k, None) for k in CLEARED_ENV}
    sys.argv = ["certbound", *map(str, args)]
    os.environ.update({"COLUMNS": "1000", **(env or {})})
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved_argv
        for name, value in saved_env.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module", autouse=True)
def quiet_audit_log() -> Iterator[None]:
    """The in-process AS logs with structlog's default (stdout), which the in-process CLI
    captures: send it elsewhere while this module runs, then restore the configuration."""
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=io.StringIO()))
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="module")
def clients(as_server: AsServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    """dn-client (client.pem, scope read write), short-client (other_client.pem, 30 s tokens)."""
    d = tmp_path_factory.mktemp("client-metadata")
    registrations = {
        "dn-client": {"token_endpoint_auth_method": "tls_client_auth",
                      "tls_client_auth_subject_dn": "CN=client-1,O=certbound tests", "scope": "read write"},
        "short-client": {"token_endpoint_auth_method": "tls_client_auth",
                         "tls_client_auth_san_dns": "client-2.example.com", "access_token_lifetime": 30},
    }  # fmt: skip
    for client_id, metadata in registrations.items():
        path = d / f"{client_id}.json"
        path.write_text(json.dumps({"client_id": client_id, **metadata}))
        out = run_cli("clients", "add", "--metadata", path, "--data-dir", as_server.settings.data_dir,
                      "--database-url", as_server.settings.database_url)  # fmt: skip
        assert out.exit_code == 0, out.stderr


# --- the test API -------------------------------------------------------------------------------


@dataclass
class Api:
    jwks: dict[str, Any]
    seen: list[tuple[str, str]] = field(default_factory=list)  # (path, token)
    reject_next: bool = False
    url: str = ""


async def protected(request: Request) -> Response:
    api: Api = request.app.state.api
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm="api"'})
    api.seen.append((request.url.path, token))
    if request.url.path == "/plain-401":
        return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm="api"'})
    if request.url.path == "/always-invalid" or api.reject_next:
        api.reject_next = False
        return Response(status_code=401, headers={"WWW-Authenticate": INVALID_TOKEN})
    claims = jwt.decode(token, KeySet.import_key_set(api.jwks)).claims
    leaf = request.scope["extensions"]["tls"]["client_cert_chain"][0]
    from cryptography import x509

    if claims["cnf"]["x5t#S256"] != x5t_s256(x509.load_pem_x509_certificate(leaf.encode())):
        return Response(status_code=401, headers={"WWW-Authenticate": INVALID_TOKEN})
    body = await request.body()
    return JSONResponse(
        {"client_id": claims["client_id"], "method": request.method, "body": body.decode(),
         "content_type": request.headers.get("content-type"), "x_test": request.headers.get("x-test")}
    )  # fmt: skip


@pytest.fixture(scope="module")
def api(as_server: AsServer, pki_files: PkiFiles, pki) -> Iterator[Api]:
    app = Starlette(routes=[Route("/{path:path}", protected, methods=["GET", "POST", "PUT"])])
    app.state.api = state = Api(as_server.runtime.keys.jwks())
    context = DynamicServerContext(
        pki_files.cert("server"),
        pki_files.key("server"),
        trust=DynamicTrust([pki.root.cert]),
        require_client_cert=True,
    )
    group = ListenerGroup(
        app,
        [ListenerSpec("127.0.0.1", 0, context, "api")],
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    thread = threading.Thread(target=group.run, args=("asyncio",), name="test-api")
    thread.start()
    try:
        assert group.wait_started(15), "the test API did not start"
        state.url = f"https://127.0.0.1:{group.addresses['api'][1]}"
        yield state
    finally:
        group.request_stop()
        thread.join(15)
        assert not thread.is_alive(), "the test API did not stop"


@pytest.fixture
def fresh_api(api: Api) -> Api:
    api.seen.clear()
    api.reject_next = False
    return api


# --- a token source whose requests are recorded --------------------------------------------


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Recorded:
    source: TokenSource
    requests: list[httpx.Request]

    def posts(self) -> list[str]:
        return [str(r.url) for r in self.requests if r.method == "POST"]


@contextmanager
def recording_source(
    server: AsServer, files: PkiFiles, stem: str, client_id: str, clock: FakeClock | None = None
) -> Iterator[Recorded]:
    """A TokenSource whose sync requests are recorded (``async_source`` adds async ones)."""
    identity = load_client_identity(*files.pair(stem))
    context = identity.ssl_context(files.root)
    seen: list[httpx.Request] = []
    with httpx.Client(verify=context, event_hooks={"request": [seen.append]}) as http:
        source = TokenSource(
            server.issuer,
            client_id=client_id,
            ssl_context=context,
            identity=identity,
            clock=clock or FakeClock(),
            http=http,
        )
        yield Recorded(source, seen)


@asynccontextmanager
async def async_source(server: AsServer, files: PkiFiles) -> AsyncIterator[Recorded]:
    identity = load_client_identity(*files.pair("client"))
    context = identity.ssl_context(files.root)
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    async with httpx.AsyncClient(verify=context, event_hooks={"request": [record]}) as http:
        source = TokenSource(
            server.issuer, client_id="dn-client", ssl_context=context, async_http=http
        )
        yield Recorded(source, seen)


# --- tokens ------------------------------------------------------------------------------------


def test_token_comes_from_the_mtls_alias_and_is_bound_to_the_certificate(
    as_server: AsServer, pki_files: PkiFiles, clients: None, pki
) -> None:
    with recording_source(as_server, pki_files, "client", "dn-client") as rec:
        token = rec.source.get_token()
        metadata = rec.source.metadata
    assert metadata is not None
    alias = f"{as_server.mtls}/token"
    assert metadata.document["mtls_endpoint_aliases"]["token_endpoint"] == alias
    assert metadata.document["token_endpoint"] != alias
    assert rec.posts() == [alias]
    assert str(rec.requests[0].url) == f"{as_server.issuer}/.well-known/oauth-authorization-server"
    assert token.cnf_thumbprint == x5t_s256(pki.client.cert)
    assert token.claims is not None and token.claims["client_id"] == "dn-client"
    assert token.scope == "read write" and token.expires_in == 600


def test_cached_token_is_reused_without_a_new_request(
    as_server: AsServer, pki_files: PkiFiles, clients: None
) -> None:
    clock = FakeClock()
    with recording_source(as_server, pki_files, "client", "dn-client", clock) as rec:
        first = rec.source.get_token()
        clock.now += 600 - 61  # 600 s token: renewed 60 s (10 %) before expiry
        again = rec.source.get_token()
        clock.now += 2
        renewed = rec.source.get_token()
    assert again.access_token == first.access_token
    assert renewed.access_token != first.access_token
    assert len(rec.posts()) == 2


def test_short_lived_token_is_reused_for_half_its_life_then_renewed(
    as_server: AsServer, pki_files: PkiFiles, clients: None
) -> None:
    clock = FakeClock()
    with recording_source(as_server, pki_files, "other_client", "short-client", clock) as rec:
        first = rec.source.get_token()
        clock.now += 14
        assert rec.source.get_token() is first
        clock.now += 2  # 16 s into a 30 s token
        renewed = rec.source.get_token()
    assert first.expires_in == 30
    assert renewed.access_token != first.access_token
    assert len(rec.posts()) == 2


def test_concurrent_threads_share_one_token_request(
    as_server: AsServer, pki_files: PkiFiles, clients: None
) -> None:
    with recording_source(as_server, pki_files, "client", "dn-client") as rec:
        barrier, tokens = threading.Barrier(8), []

        def fetch() -> None:
            barrier.wait(5)
            tokens.append(rec.source.get_token().access_token)

        threads = [threading.Thread(target=fetch) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert len(rec.posts()) == 1


async def test_concurrent_tasks_share_one_token_request(
    as_server: AsServer, pki_files: PkiFiles, clients: None
) -> None:
    async with async_source(as_server, pki_files) as rec:
        tokens = await asyncio.gather(*(rec.source.aget_token() for _ in range(8)))
    assert len({t.access_token for t in tokens}) == 1
    assert len(rec.posts()) == 1


# --- API calls ---------------------------------------------------------------------------------


def open_client(server: AsServer, files: PkiFiles, stem: str = "client", **kwargs: Any) -> Client:
    kwargs.setdefault("client_id", "dn-client")
    kwargs.setdefault("ca", files.root)
    return Client(server.issuer, *files.pair(stem), **kwargs)


def test_api_call_presents_the_certificate_the_token_is_bound_to(
    as_server: AsServer, pki_files: PkiFiles, clients: None, fresh_api: Api
) -> None:
    with open_client(as_server, pki_files) as client, client.http() as http:
        response = http.post(f"{fresh_api.url}/things", json={"a": 1}, headers={"x-test": "1"})
    assert response.status_code == 200, response.text
    assert response.json() == {"client_id": "dn-client", "method": "POST", "body": '{"a":1}',
                               "content_type": "application/json", "x_test": "1"}  # fmt: skip


def test_invalid_token_from_the_api_gets_one_retry_with_a_fresh_token(
    as_server: AsServer, pki_files: PkiFiles, clients: None, fresh_api: Api
) -> None:
    fresh_api.reject_next = True
    with open_client(as_server, pki_files) as client, client.http() as http:
        response = http.post(f"{fresh_api.url}/things", content=b"payload")
    assert response.status_code == 200, response.text
    assert response.json()["body"] == "payload"  # the body was sent again
    first, second = (token for _, token in fresh_api.seen)
    assert first != second
    assert [r.status_code for r in response.history] == [401]


def test_api_that_keeps_rejecting_gets_exactly_one_retry(
    as_server: AsServer, pki_files: PkiFiles, clients: None, fresh_api: Api
) -> None:
    with open_client(as_server, pki_files) as client, client.http() as http:
        response = http.get(f"{fresh_api.url}/always-invalid")
    assert response.status_code == 401
    assert len(fresh_api.seen) == 2


def test_401_without_invalid_token_is_not_retried(
    as_server: AsServer, pki_files: PkiFiles, clients: None, fresh_api: Api
) -> None:
    with open_client(as_server, pki_files) as client, client.http() as http:
        response = http.get(f"{fresh_api.url}/plain-401")
    assert response.status_code == 401
    assert len(fresh_api.seen) == 1


async def test_async_client_gets_a_bound_token_and_retries_once(
    as_server: AsServer, pki_files: PkiFiles, clients: None, fresh_api: Api, pki
) -> None:
    fresh_api.reject_next = True
    async with AsyncClient(
        as_server.issuer, *pki_files.pair("client"), client_id="dn-client", ca=pki_files.root
    ) as client:
        token = await client.token()
        fresh = await client.token(fresh=True)
        async with client.http() as http:
            response = await http.get(f"{fresh_api.url}/things")
        metadata = await client.metadata()
    assert token.cnf_thumbprint == client.thumbprint == x5t_s256(pki.client.cert)
    assert fresh.access_token != token.access_token
    assert response.status_code == 200 and len(fresh_api.seen) == 2
    assert fresh_api.seen[0][1] == fresh.access_token  # the API got the current token first
    assert metadata.issuer == as_server.issuer


def test_fresh_token_on_request(as_server: AsServer, pki_files: PkiFiles, clients: None) -> None:
    with open_client(as_server, pki_files) as client:
        first, cached, fresh = client.token(), client.token(), client.token(fresh=True)
    assert cached is first and fresh.access_token != first.access_token


# --- keys: encrypted, PKCS#12 ------------------------------------------------------------------


def test_encrypted_key_works_with_its_passphrase(
    as_server: AsServer, pki_files: PkiFiles, clients: None, pki, tmp_path: Path
) -> None:
    key = tmp_path / "client.key"
    key.write_bytes(encode_private_key(pki.client.key, b"s3cret"))
    with Client(as_server.issuer, pki_files.cert("client"), key, client_id="dn-client",
                ca=pki_files.root, passphrase=b"s3cret") as client:  # fmt: skip
        assert client.token().cnf_thumbprint == x5t_s256(pki.client.cert)


def test_pkcs12_file_holds_key_and_chain(
    as_server: AsServer, pki_files: PkiFiles, clients: None, pki, tmp_path: Path
) -> None:
    p12 = tmp_path / "client.p12"
    p12.write_bytes(export_pkcs12(pki.client.key, pki.client.chain, b"p12-pass"))
    with Client(as_server.issuer, p12, client_id="dn-client", ca=pki_files.root,
                passphrase=b"p12-pass") as client:  # fmt: skip
        assert client.token().cnf_thumbprint == x5t_s256(pki.client.cert)


# --- the usual mistakes --------------------------------------------------------------------------


def test_wrong_key_is_refused_before_connecting(as_server: AsServer, pki_files: PkiFiles) -> None:
    with pytest.raises(ClientConfigError) as info:
        Client(as_server.issuer, pki_files.cert("client"), pki_files.key("other_client"),
               client_id="dn-client")  # fmt: skip
    assert "the private key does not match the certificate" in info.value.message


def test_untrusted_server_certificate_names_the_fix(
    as_server: AsServer, pki_files: PkiFiles, pki, tmp_path: Path
) -> None:
    foreign = tmp_path / "foreign-root.pem"
    foreign.write_bytes(pki.foreign_root.pem)
    with (
        open_client(as_server, pki_files, ca=foreign) as client,
        pytest.raises(ServerNotTrustedError) as info,
    ):
        client.token()
    assert info.value.message.startswith("the authorization server's certificate is not trusted")
    assert "pass --ca / ca= the CA that issued it" in info.value.message
    assert isinstance(info.value, httpx.ConnectError)  # still an httpx error


@pytest.mark.parametrize(
    ("stem", "extra"),
    [("foreign_client", None), ("expired", "this certificate expired on")],
    ids=["untrusted-issuer", "expired"],
)
def test_handshake_refused_by_the_server_is_explained(
    as_server: AsServer, pki_files: PkiFiles, stem: str, extra: str | None
) -> None:
    with (
        open_client(as_server, pki_files, stem) as client,
        pytest.raises(HandshakeRefusedError) as info,
    ):
        client.token()
    assert info.value.message.startswith(
        "the authorization server did not accept the client certificate during the TLS "
        "handshake (untrusted issuer, expired, or not registered as self-signed)"
    )
    assert extra is None or extra in info.value.message


def test_another_clients_certificate_is_invalid_client(
    as_server: AsServer, pki_files: PkiFiles, clients: None
) -> None:
    with (
        open_client(as_server, pki_files, "other_client") as client,
        pytest.raises(OAuthClientError) as info,
    ):
        client.token()
    assert (info.value.error, info.value.status) == ("invalid_client", 401)
    assert info.value.message.startswith(
        "the server did not accept this certificate for client_id 'dn-client'"
    )


def test_scope_not_allowed_carries_the_servers_error(
    as_server: AsServer, pki_files: PkiFiles, clients: None
) -> None:
    with (
        open_client(as_server, pki_files, scope="admin") as client,
        pytest.raises(OAuthClientError) as info,
    ):
        client.token()
    assert (info.value.error, info.value.status) == ("invalid_scope", 400)
    assert info.value.message.startswith("invalid_scope")


def test_issuer_that_differs_from_the_metadata_is_refused(
    as_server: AsServer, pki_files: PkiFiles
) -> None:
    with Client(f"{as_server.issuer}/", *pki_files.pair("client"), client_id="dn-client",
                ca=pki_files.root) as client, pytest.raises(DiscoveryError) as info:  # fmt: skip
        client.token()
    assert "RFC 8414 §3.3" in info.value.message


def test_server_without_metadata_is_a_discovery_error(api: Api, pki_files: PkiFiles) -> None:
    with (
        Client(api.url, *pki_files.pair("client"), client_id="x", ca=pki_files.root) as client,
        pytest.raises(DiscoveryError) as info,
    ):
        client.metadata()
    assert "no authorization server metadata" in info.value.message
    assert "openid-configuration: HTTP 401" in info.value.message


# --- the CLI: certbound token / call ---------------------------------------------------------------


def cli_args(
    server: AsServer, files: PkiFiles, stem: str = "client", *extra: str | Path
) -> list[str | Path]:
    return ["--issuer", server.issuer, "--cert", files.cert(stem), "--key", files.key(stem), *extra]


def test_cli_token_json_shows_the_alias_and_the_binding(
    as_server: AsServer, pki_files: PkiFiles, clients: None, pki
) -> None:
    out = run_cli("token", *cli_args(as_server, pki_files), "--client-id", "dn-client",
                  "--ca", pki_files.root, "--json", "--decode")  # fmt: skip
    assert out.exit_code == 0, out.stderr
    shown = json.loads(out.stdout)
    thumbprint = x5t_s256(pki.client.cert)
    assert shown["token_endpoint"] == f"{as_server.mtls}/token" and shown["mtls_alias"] is True
    assert shown["response"]["token_type"] == "Bearer"
    assert shown["claims"]["cnf"] == {"x5t#S256": thumbprint}
    assert shown["header"]["typ"] == "at+jwt"
    assert shown["certificate_x5t#S256"] == thumbprint and shown["cnf_matches_certificate"] is True


def test_cli_token_decode_highlights_the_cnf_match(
    as_server: AsServer, pki_files: PkiFiles, clients: None, pki
) -> None:
    out = run_cli("token", *cli_args(as_server, pki_files), "--ca", pki_files.root, "--decode",
                  env={"CERTBOUND_CLIENT_ID": "dn-client"})  # fmt: skip
    assert out.exit_code == 0, out.stderr
    assert f"token endpoint: {as_server.mtls}/token (mTLS alias)" in out.stdout
    assert "token_type: Bearer" in out.stdout and "access_token: ey" in out.stdout
    assert f"cnf x5t#S256: {x5t_s256(pki.client.cert)} (matches this certificate)" in out.stdout


def test_cli_token_reads_an_encrypted_key_with_env_or_file_passphrase(
    as_server: AsServer, pki_files: PkiFiles, clients: None, pki, tmp_path: Path
) -> None:
    key, secret = tmp_path / "enc.key", tmp_path / "passphrase.txt"
    key.write_bytes(encode_private_key(pki.client.key, b"pw-123"))
    secret.write_text("pw-123\n")
    base = ["token", "--issuer", as_server.issuer, "--cert", pki_files.cert("client"), "--key", key,
            "--client-id", "dn-client", "--ca", pki_files.root, "--json"]  # fmt: skip
    by_env = run_cli(*base, env={"CERTBOUND_KEY_PASSPHRASE": "pw-123"})
    by_file = run_cli(*base, "--passphrase-file", secret)
    missing = run_cli(*base)
    assert by_env.exit_code == 0 and by_file.exit_code == 0, by_env.stderr + by_file.stderr
    assert missing.exit_code == 2 and "the private key is encrypted" in missing.stderr


@pytest.mark.parametrize(
    ("stem", "args", "code", "message"),
    [
        ("client", ["--ca", "ROOT"], 2, "--client-id is required (or set CERTBOUND_CLIENT_ID)"),
        ("client", ["--client-id", "dn-client"], 3, "certificate is not trusted"),
        ("foreign_client", ["--client-id", "dn-client", "--ca", "ROOT"], 3,
         "did not accept the client certificate during the TLS handshake"),
        ("other_client", ["--client-id", "dn-client", "--ca", "ROOT"], 1,
         "the server did not accept this certificate for client_id 'dn-client'"),
    ],
    ids=["no-client-id", "server-not-trusted", "handshake-refused", "invalid-client"],
)  # fmt: skip
def test_cli_token_mistakes_have_one_line_errors_and_exit_codes(
    as_server: AsServer, pki_files: PkiFiles, clients: None,
    stem: str, args: list[str], code: int, message: str,
) -> None:  # fmt: skip
    args = [str(pki_files.root) if a == "ROOT" else a for a in args]
    out = run_cli("token", *cli_args(as_server, pki_files, stem), *args)
    assert out.exit_code == code, out.stderr
    assert out.stderr.startswith("error: ") and message in out.stderr
    assert out.stdout == ""


def test_cli_token_with_a_key_that_does_not_match_is_a_usage_error(
    as_server: AsServer, pki_files: PkiFiles
) -> None:
    out = run_cli("token", "--issuer", as_server.issuer, "--cert", pki_files.cert("client"),
                  "--key", pki_files.key("other_client"), "--client-id", "dn-client")  # fmt: skip
    assert out.exit_code == 2
    assert "error: the private key does not match the certificate" in out.stderr


def call_args(server: AsServer, files: PkiFiles) -> list[str | Path]:
    return [*cli_args(server, files), "--client-id", "dn-client", "--ca", files.root]


def test_cli_call_prints_the_body_and_exits_0_on_2xx(
    as_server: AsServer, pki_files: PkiFiles, clients: None, fresh_api: Api
) -> None:
    out = run_cli("call", f"{fresh_api.url}/things", *call_args(as_server, pki_files))
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["client_id"] == "dn-client"
    assert out.stderr.strip() == "HTTP 200 OK"


def test_cli_call_sends_method_data_and_headers_like_curl(
    as_server: AsServer, pki_files: PkiFiles, clients: None, fresh_api: Api, tmp_path: Path
) -> None:
    body = tmp_path / "body.txt"
    body.write_text("b=2")
    out = run_cli("call", f"{fresh_api.url}/things", *call_args(as_server, pki_files),
                  "-X", "put", "-d", "a=1", "-d", f"@{body}", "-H", "X-Test: yes", "-i")  # fmt: skip
    assert out.exit_code == 0, out.stderr
    head, _, payload = out.stdout.partition("\n\n")
    assert head.startswith("HTTP 200 OK\n") and "content-type: application/json" in head
    assert json.loads(payload) == {"client_id": "dn-client", "method": "PUT", "body": "a=1&b=2",
        "content_type": "application/x-www-form-urlencoded", "x_test": "yes"}  # fmt: skip


def test_cli_call_exits_1_on_a_rejected_token_and_shows_the_challenge(
    as_server: AsServer, pki_files: PkiFiles, clients: None, fresh_api: Api
) -> None:
    out = run_cli("call", f"{fresh_api.url}/always-invalid", *call_args(as_server, pki_files))
    assert out.exit_code == 1
    assert f"www-authenticate: {INVALID_TOKEN}" in out.stderr
    assert "error: the server answered HTTP 401 Unauthorized" in out.stderr
    assert len(fresh_api.seen) == 2  # one retry with a fresh token


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["-H", "no-colon"], "bad header 'no-colon'"), (["-d", "@/nonexistent/x"], "cannot read")],
    ids=["bad-header", "missing-data-file"],
)
def test_cli_call_bad_input_is_a_usage_error(
    as_server: AsServer, pki_files: PkiFiles, api: Api, extra: list[str], message: str
) -> None:
    out = run_cli("call", f"{api.url}/things", *call_args(as_server, pki_files), *extra)
    assert out.exit_code == 2 and message in out.stderr


def test_handshake_refused_over_tls_1_2_is_explained_too(
    as_server: AsServer, pki_files: PkiFiles
) -> None:
    identity = load_client_identity(*pki_files.pair("foreign_client"))
    context = identity.ssl_context(pki_files.root)
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # the refusal is an EOF in the handshake
    source = TokenSource(
        as_server.issuer, client_id="dn-client", ssl_context=context, identity=identity
    )
    with pytest.raises(HandshakeRefusedError) as info:
        source.get_token()
    source.close()
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert "UNEXPECTED_EOF_WHILE_READING" in str(info.value.__cause__)


def test_cli_call_to_an_unreachable_api_is_a_one_line_error(
    as_server: AsServer, pki_files: PkiFiles, clients: None
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    out = run_cli("call", f"https://127.0.0.1:{port}/x", *call_args(as_server, pki_files))
    assert out.exit_code == 1
    assert out.stderr.startswith(f"error: cannot reach https://127.0.0.1:{port}/x: ")
