"""The README's command blocks run as written (ports swapped for free ones), so they cannot rot.

Each ```bash block under the headings below is executed line by line with bash in a temporary
directory and a temporary HOME (so the default data directory is fresh). A `certbound serve` line
starts the real server in the background; the commands after it talk to it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
BIN = Path(sys.executable).parent


def bash_block(heading: str) -> list[str]:
    """The commands of the first ```bash block after ``heading`` (continuations joined)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, f"no bash block under {heading!r}"
    joined = re.sub(r"\\\n\s*", " ", block.group(1))
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Shell:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.ports = {"8443": str(free_port()), "8444": str(free_port())}
        self.env = {
            **os.environ,
            "HOME": str(cwd / "home"),
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "COLUMNS": "200",
        }
        self.env.pop("XDG_DATA_HOME", None)
        self.server: subprocess.Popen[str] | None = None
        self.outputs: list[str] = []

    def localize(self, line: str) -> str:
        for default, port in self.ports.items():
            line = line.replace(f":{default}", f":{port}")
        if line.startswith("certbound serve"):
            line += f" --port {self.ports['8443']} --mtls-port {self.ports['8444']}"
        return line

    def run(self, line: str) -> str:
        line = self.localize(line)
        if line.startswith("certbound serve"):
            self.start_server(line)
            return ""
        if line.startswith(("D=", "export ")):
            name, value = line.removeprefix("export ").split("=", 1)
            self.env[name] = os.path.expanduser(value.replace("~", self.env["HOME"]))
            return ""
        out = subprocess.run(
            ["bash", "-c", line],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, f"README command failed: {line}\n{out.stdout}\n{out.stderr}"
        self.outputs.append(out.stdout)
        return out.stdout

    def start_server(self, line: str) -> None:
        with (self.cwd / "serve.log").open("w") as log:
            self.server = subprocess.Popen(
                ["bash", "-c", f"exec {line}"],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.server.poll() is None, (self.cwd / "serve.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", int(self.ports["8444"])), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(
            "certbound serve did not start:\n" + (self.cwd / "serve.log").read_text()
        )

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(15)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(5)


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    sh = Shell(tmp_path)
    try:
        yield sh
    finally:
        sh.stop()


def test_run_it_block_gets_a_bound_token(shell: Shell) -> None:
    run_it = bash_block("## Run it")
    assert run_it == ["certbound serve"]
    shell.run(run_it[0])
    curl = bash_block("It prints where everything is")
    output = ""
    for line in curl:
        output = shell.run(line)
    body = json.loads(output)
    assert body["token_type"] == "Bearer"
    demo = Path(shell.env["D"]) / "demo" / "demo-client.pem"
    thumbprint = shell.run(f"certbound pki thumbprint {demo}").strip()
    from joserfc import jwt

    claims = jwt.decode(body["access_token"], _served_keys(shell), algorithms=["ES256"]).claims
    assert claims["cnf"] == {"x5t#S256": thumbprint}


def _served_keys(shell: Shell):  # type: ignore[no-untyped-def]
    from joserfc.jwk import KeySet

    data = Path(shell.env["HOME"]) / ".local/share/certbound"
    out = shell.run(
        f"curl -sS --cacert {data}/ca/root.pem https://localhost:{shell.ports['8443']}/jwks"
    )
    return KeySet.import_key_set(json.loads(out))


def test_step_by_step_block_runs_as_written(shell: Shell) -> None:
    outputs = [shell.run(line) for line in bash_block("## Step by step")]
    token = json.loads(outputs[-1])
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "payments:read payments:write"


def test_self_signed_block_registers_a_client(shell: Shell) -> None:
    for line in bash_block("Self-signed clients"):
        shell.run(line)
    listed = json.loads(shell.run("certbound clients show batch"))
    assert listed["token_endpoint_auth_method"] == "self_signed_tls_client_auth"
    assert "x5c" in listed["jwks"]["keys"][0]


def test_the_configuration_example_is_a_valid_configuration(tmp_path: Path) -> None:
    """The README's TOML example loads (every key exists, every value validates)."""
    from certbound.config.settings import load_settings

    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.S)
    assert block, "no toml block under ## Configuration"
    config = tmp_path / "certbound.toml"
    config.write_text(block.group(1), encoding="utf-8")
    settings = load_settings(config, {})
    assert (settings.log.format, settings.log.level_number) == ("json", 20)
    assert settings.server.mtls_port == 8444 and settings.tokens.signing_alg == "ES256"
