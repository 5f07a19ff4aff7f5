"""The code blocks of docs/ run as written, so the documentation cannot rot.

Each block of docs/client.md, resource-server.md, gateway.md and demo.md carries a comment
``<!-- docs-test: KIND -->`` saying how it is run, or ``skip (why)``. The blocks run against a
real authorization server and the example API in a temporary HOME that holds the development
files of ``certbound serve``; the URLs ``https://localhost:8443`` (the AS) and
``https://localhost:9443`` (an API) are swapped for the running ones.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import structlog
from asserver import AsServer, run_as_server
from rshelpers import dn_client, register

from certbound.cli import main
from certbound.cli._resource_server import background_listeners, bind
from certbound.client import Client
from certbound.examples import create_example_api
from certbound.resource import AccessTokenVerifier, RemoteJwks
from certbound.resource.gateway import Gateway
from certbound.resource.introspection import NOT_ACTIVE
from certbound.server.bootstrap import DEMO_SUBJECT_DN, DevEnvironment, ensure_dev_environment
from certbound.server.tls import TrustMaterial, build_server_context

pytestmark = pytest.mark.e2e

DOCS = Path(__file__).resolve().parents[2] / "docs"
TESTED_PAGES = ("client.md", "resource-server.md", "gateway.md", "demo.md")
BIN = Path(sys.executable).parent
AS_URL, API_URL = "https://localhost:8443", "https://localhost:9443"
_BLOCK = re.compile(
    r"(?:<!-- docs-test: (?P<tag>[^\n]*?) -->\n)?```(?P<lang>\w*)\n(?P<code>.*?)```", re.S
)


@dataclass(frozen=True)
class Block:
    page: str
    tag: str | None
    lang: str
    code: str


def blocks(page: str, tag: str | None = None) -> list[Block]:
    text = (DOCS / page).read_text(encoding="utf-8")
    found = [Block(page, m["tag"], m["lang"], m["code"]) for m in _BLOCK.finditer(text)]
    return [b for b in found if tag is None or b.tag == tag]


def one(page: str, tag: str) -> Block:
    (block,) = blocks(page, tag)
    return block


def substitute(code: str, urls: Mapping[str, str]) -> str:
    for old, new in urls.items():
        code = code.replace(old, new)
    return code


def wait_for_port(port: int, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}:\n{log.read_text()}")


def stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(5)


@dataclass
class Shell:
    """Runs documented shell lines one by one with a HOME of its own (``D=`` and ``X=$(…)``
    assignments are kept); ``background`` lines start servers that stay up until :meth:`stop`."""

    cwd: Path
    home: Path
    urls: dict[str, str]
    env: dict[str, str] = field(init=False)
    servers: list[subprocess.Popen[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env = {**os.environ, "HOME": str(self.home), "PATH": f"{BIN}:{os.environ['PATH']}",
                    "COLUMNS": "300"}  # fmt: skip
        self.env.pop("XDG_DATA_HOME", None)
        self.env.pop("CERTBOUND_CONFIG", None)

    def lines(self, block: Block) -> list[str]:
        joined = re.sub(r"\\\n\s*", " ", substitute(block.code, self.urls))
        stripped = (ln.strip() for ln in joined.splitlines())
        return [ln for ln in stripped if ln and not ln.startswith("#")]

    def run(self, line: str) -> str:
        if match := re.fullmatch(r"(\w+)=\$\((.*)\)", line, re.S):
            self.env[match[1]] = self.run(match[2]).strip()
            return ""
        if match := re.fullmatch(r"(\w+)=(\S+)", line):
            self.env[match[1]] = os.path.expanduser(match[2].replace("~", str(self.home), 1))
            return ""
        first, bar, rest = line.partition(" | ")
        stdin = None
        if first.startswith("certbound ") and not re.search(r"[|<>;&`]|\$\(", first):
            stdin = self.certbound(shlex.split(self.expand(first))[1:])
            if not bar:
                return stdin
            line = rest
        out = subprocess.run(["bash", "-c", line], cwd=self.cwd, env=self.env, capture_output=True,
                             input=stdin, text=True, timeout=60, check=False)  # fmt: skip
        assert out.returncode == 0, f"documented command failed: {line}\n{out.stdout}\n{out.stderr}"
        return out.stdout

    def expand(self, line: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.env[m[1]], line)

    def certbound(self, argv: list[str]) -> str:
        """A ``certbound`` line run in this process (as its console script would), which saves
        the interpreter's start-up: the environment and directory are the shell's."""
        out, err = io.StringIO(), io.StringIO()
        saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv
        os.environ.clear()
        os.environ.update(self.env)
        os.chdir(self.cwd)
        sys.argv = ["certbound", *argv]
        code: object = 0
        try:
            with redirect_stdout(out), redirect_stderr(err):
                try:
                    main()
                except SystemExit as exc:
                    code = exc.code
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
            os.chdir(saved_cwd)
            sys.argv = saved_argv
        assert code in (0, None), f"documented command failed: certbound {argv}\n{err.getvalue()}"
        return out.getvalue()

    def background(self, line: str, port: int) -> None:
        log = self.cwd / f"server-{len(self.servers)}.log"
        with log.open("w") as sink:
            process = subprocess.Popen(["bash", "-c", f"exec {line}"], cwd=self.cwd, env=self.env,
                                       stdout=sink, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        self.servers.append(process)
        wait_for_port(port, process, log)

    def stop(self) -> list[int]:
        for process in self.servers:  # all at once: they stop in parallel
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        return [stop(process) for process in self.servers]


# --- the environment: the AS and the example API on the dev files of a temporary HOME ----------


@dataclass(frozen=True)
class Dev:
    home: Path
    env: DevEnvironment
    server: AsServer
    api: str

    @property
    def urls(self) -> dict[str, str]:
        return {AS_URL: self.server.issuer, API_URL: self.api}

    def client(self) -> Client:
        return Client(self.server.issuer, self.env.demo_chain, self.env.demo_key,
                      client_id="demo-client", ca=self.env.trust_anchors)  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def quiet_audit_log() -> Iterator[None]:
    """The in-process AS logs to stdout by default: keep the snippets' own output apart."""
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=io.StringIO()))
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    home = tmp_path_factory.mktemp("docs-home")
    env = ensure_dev_environment(home / ".local/share/certbound")
    files = {"server_chain": env.server_chain, "server_key": env.server_key,
             "anchors": env.trust_anchors, "ca_file": env.trust_anchors}  # fmt: skip
    with run_as_server(env.data_dir, **files) as server:
        register(server, dn_client("demo-client", DEMO_SUBJECT_DN, ("read", "write")))
        verifier = AccessTokenVerifier(
            RemoteJwks(server.issuer, verify=env.trust_anchors), audience=server.issuer
        )
        context = build_server_context(
            env.server_chain,
            env.server_key,
            trust=TrustMaterial.from_pem_file(env.trust_anchors),
            require_client_cert=False,
        )
        sock = bind("127.0.0.1", 0)
        with background_listeners(create_example_api(verifier), {"api": (sock, context)}):
            yield Dev(home, env, server, f"https://localhost:{sock.getsockname()[1]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- every block is run, or says why not --------------------------------------------------------


@pytest.mark.parametrize("page", TESTED_PAGES)
def test_every_code_block_is_run_or_says_why(page: str) -> None:
    code_blocks = [b for b in blocks(page) if b.lang in ("python", "bash")]
    assert code_blocks
    for block in code_blocks:
        assert block.tag is not None, f"{page}: a block has no docs-test comment:\n{block.code}"
        assert block.tag in {
            "python",
            "bash",
            "serve",
            "call-served",
            "introspection",
            "manual",
        } or (re.fullmatch(r"skip \(.+\)", block.tag)), block.tag


# --- docs/client.md ------------------------------------------------------------------------------


def run_python(block: Block, dev: Dev, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(dev.home))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    code = compile(substitute(block.code, dev.urls), f"docs/{block.page}", "exec")
    exec(code, {"__name__": "__docs__"})  # noqa: S102 (the documented snippet, as written)


def test_client_page_python_blocks_run(
    dev: Dev, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sync, asynchronous, own_httpx = blocks("client.md", "python")
    run_python(sync, dev, monkeypatch)
    assert capsys.readouterr().out.splitlines() == ["read write 600 demo-client", "200 acc-001"]
    run_python(asynchronous, dev, monkeypatch)
    assert capsys.readouterr().out == "201 accepted\n"
    run_python(own_httpx, dev, monkeypatch)
    with dev.client() as client:
        assert capsys.readouterr().out == f"{client.thumbprint}\n"


def test_client_page_commands_run(dev: Dev, tmp_path: Path) -> None:
    shell = Shell(tmp_path, dev.home, dev.urls)
    outputs = [shell.run(line) for line in shell.lines(one("client.md", "bash"))]
    assert "(matches this certificate)" in outputs[-2]
    assert json.loads(outputs[-1])["accounts"][0]["id"] == "acc-001"


# --- docs/resource-server.md --------------------------------------------------------------------


@contextmanager
def served_app(code: str, dev: Dev, tmp_path: Path) -> Iterator[tuple[str, Shell]]:
    """Run the documented app (``python api.py``) on a free port instead of 9443."""
    port = free_port()
    script = tmp_path / "api.py"
    script.write_text(substitute(code.replace("9443", str(port)), dev.urls))
    url = f"https://localhost:{port}"
    shell = Shell(tmp_path, dev.home, {**dev.urls, API_URL: url})
    try:
        shell.background(f"{sys.executable} {script}", port)
        yield url, shell
    finally:
        codes = shell.stop()
    assert codes == [0], (tmp_path / "server-0.log").read_text()


def test_resource_server_page_app_accepts_bound_tokens_only(dev: Dev, tmp_path: Path) -> None:
    serve = one("resource-server.md", "serve")
    with served_app(serve.code, dev, tmp_path) as (url, shell):
        outputs = [
            shell.run(line) for line in shell.lines(one("resource-server.md", "call-served"))
        ]
        trust = ssl.create_default_context(cafile=dev.env.trust_anchors)
        with httpx.Client(verify=trust) as http:
            anonymous = http.get(f"{url}/orders")
    with dev.client() as client:
        assert json.loads(outputs[-1]) == {
            "client_id": "demo-client",
            "bound_to": client.thumbprint,
        }
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="orders"'


def test_resource_server_page_introspection_variant_sees_revocation(
    dev: Dev, tmp_path: Path
) -> None:
    shell = Shell(tmp_path, dev.home, dev.urls)
    for line in shell.lines(one("resource-server.md", "bash")):
        shell.run(line)
    serve = one("resource-server.md", "serve").code
    (jwt_line,) = [line for line in serve.splitlines() if line.startswith("verifier = ")]
    code = serve.replace(jwt_line, one("resource-server.md", "introspection").code)
    with (
        served_app(code, dev, tmp_path) as (url, _shell),
        dev.client() as client,
        client.http() as http,
        httpx.Client(verify=client.ssl_context) as raw,  # same certificate, no token of its own
    ):
        accepted = http.get(f"{url}/orders")
        revoked = client.token(fresh=True).access_token
        form = {"token": revoked, "client_id": "demo-client"}
        answer = raw.post(f"{dev.server.mtls}/revoke", data=form)
        refused = raw.get(f"{url}/orders", headers={"Authorization": f"Bearer {revoked}"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["client_id"] == "demo-client"
    assert answer.status_code == 200
    assert refused.status_code == 401
    assert refused.json()["error_description"] == NOT_ACTIVE  # the AS said so: introspection


# --- docs/gateway.md, docs/demo.md -----------------------------------------------------------


def test_gateway_page_library_example_builds_the_app(
    dev: Dev, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace: dict[str, object] = {}
    block = one("gateway.md", "python")
    exec(compile(block.code, "docs/gateway.md", "exec"), namespace)  # noqa: S102
    app = namespace["app"]
    assert isinstance(app, Gateway)
    assert app.config.upstream == "http://127.0.0.1:8080" and app.config.required_scopes == (
        "read",
    )
    asyncio.run(app.aclose())


def test_demo_page_by_hand_sequence_runs(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("8443", "8444", "9443")}
    home = tmp_path / "home"
    home.mkdir()
    shell = Shell(tmp_path, home, {f":{old}": f":{new}" for old, new in ports.items()})
    outputs: list[str] = []
    try:
        for line in shell.lines(one("demo.md", "manual")):
            if line.startswith("certbound serve"):
                shell.background(
                    f"{line} --port {ports['8443']} --mtls-port {ports['8444']}", ports["8444"]
                )
            elif line.startswith("certbound example-api"):
                issuer = f"https://localhost:{ports['8443']}"
                shell.background(f"{line} --port {ports['9443']} --issuer {issuer}", ports["9443"])
            else:
                outputs.append(shell.run(line))
    finally:
        codes = shell.stop()
    assert "(matches this certificate)" in outputs[1]
    assert json.loads(outputs[2])["client_id"] == "demo-client"
    assert json.loads(outputs[-1]) == {
        "error": "invalid_token",
        "error_description": "the token is bound to another certificate",
    }
    assert codes == [0, 0]
