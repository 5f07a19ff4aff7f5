"""`certbound serve` logging: ``--json-logs`` / ``log.format`` and ``--log-level`` / ``log.level``,
read off the real server's stderr after a real token request over mutual TLS."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent / "certbound"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_once(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    """Start the dev server, get one token with the demo client, stop it; its stderr lines."""
    data, log = tmp_path / "data", tmp_path / "server.log"
    port, mtls = free_port(), free_port()
    cmd = [str(BIN), "serve", "--data-dir", str(data), "--port", str(port),
           "--mtls-port", str(mtls), *args]  # fmt: skip
    with log.open("w") as err:
        server = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, **(env or {})}
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                assert server.poll() is None, log.read_text()
                try:
                    socket.create_connection(("127.0.0.1", mtls), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.1)
            ctx = ssl.create_default_context(cafile=data / "ca" / "root.pem")
            ctx.load_cert_chain(
                data / "demo" / "demo-client.pem", data / "demo" / "demo-client.key"
            )
            with httpx.Client(verify=ctx, timeout=10) as http:
                answer = http.post(f"https://localhost:{mtls}/token",
                                   data={"grant_type": "client_credentials", "client_id": "demo-client"})  # fmt: skip
            assert answer.status_code == 200, answer.text
        finally:
            server.terminate()
            server.wait(15)
    return log.read_text().splitlines()


def json_events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_json_lines_at_info_have_one_audit_line_per_token(tmp_path: Path) -> None:
    lines = serve_once(tmp_path, "--json-logs")
    events = json_events(lines)
    assert events and len(events) == len([ln for ln in lines if ln.strip()]), lines  # all JSON
    audit = [e for e in events if e.get("logger") == "certbound.audit"]
    assert [e["event"] for e in audit] == ["token_issued"]
    assert audit[0]["client_id"] == "demo-client" and audit[0]["level"] == "info"
    assert len(audit[0]["cnf_thumbprint"]) == 43


def test_debug_level_from_the_environment_adds_the_authentication(tmp_path: Path) -> None:
    lines = serve_once(
        tmp_path, env={"CERTBOUND_LOG__FORMAT": "json", "CERTBOUND_LOG__LEVEL": "debug"}
    )
    audit = [e for e in json_events(lines) if e.get("logger") == "certbound.audit"]
    assert [(e["event"], e["level"]) for e in audit] == [
        ("client_authenticated", "debug"),
        ("token_issued", "info"),
    ]
    assert audit[0]["method"] == "tls_client_auth"


def test_a_bad_log_level_is_a_usage_error_naming_the_key(tmp_path: Path) -> None:
    out = subprocess.run([str(BIN), "serve", "--data-dir", str(tmp_path), "--log-level", "loud"],
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "log.level" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "certbound.db").exists()  # nothing created before the refusal
