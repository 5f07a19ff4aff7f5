"""`certbound gateway`, `example-api` and `demo`: flags, environment and the usage errors.

The commands run in-process (the console script's ``main()``); every case here fails before a
socket is bound, except the busy port. The servers themselves are exercised in tests/e2e.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog

from certbound.cli import main

ENV_PREFIX = "CERTBOUND_GATEWAY__"


@pytest.fixture(autouse=True)
def logging_is_left_alone() -> Iterator[None]:
    """A command that fails must not reconfigure the process's logging (structlog, root)."""
    before = (structlog.get_config(), list(logging.getLogger().handlers))
    yield
    assert (structlog.get_config(), list(logging.getLogger().handlers)) == before


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    out, err = io.StringIO(), io.StringIO()
    saved_argv = sys.argv
    saved_env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX) or k == "COLUMNS"}
    for name in saved_env:
        del os.environ[name]
    os.environ.update({"COLUMNS": "1000", **(env or {})})
    sys.argv = ["certbound", *map(str, args)]
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved_argv
        for name in [k for k in os.environ if k.startswith(ENV_PREFIX) or k == "COLUMNS"]:
            del os.environ[name]
        os.environ.update(saved_env)
    return Result(code, out.getvalue(), err.getvalue())


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path
    root: Path

    def flags(self) -> list[str]:
        return ["--tls-cert", str(self.cert), "--tls-key", str(self.key),
                "--trust-anchors", str(self.root), "--ca", str(self.root)]  # fmt: skip


@pytest.fixture(scope="module")
def tls(pki, tmp_path_factory: pytest.TempPathFactory) -> Tls:
    d = tmp_path_factory.mktemp("gateway-cli")
    cert, key = pki.server.write(d, "server")
    (d / "root.pem").write_bytes(pki.root.pem)
    return Tls(cert, key, d / "root.pem")


GATEWAY = ("gateway", "--upstream", "http://127.0.0.1:8080", "--issuer", "https://as.example")


def usage_error(result: Result, message: str) -> None:
    assert result.exit_code == 2, result
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_gateway_refuses_an_upstream_that_is_not_http(tls: Tls) -> None:
    result = run("gateway", "--upstream", "ftp://files.example", "--issuer", "https://as.example",
                 *tls.flags())  # fmt: skip
    usage_error(result, "the upstream must be an http:// or https:// URL with a host")


def test_gateway_reads_its_flags_from_the_environment(tls: Tls) -> None:
    env = {f"{ENV_PREFIX}UPSTREAM": "ftp://from-env.example", f"{ENV_PREFIX}ISSUER": "https://as"}
    result = run("gateway", *tls.flags(), env=env)
    usage_error(result, "'ftp://from-env.example'")


def test_gateway_flag_wins_over_the_environment(tmp_path: Path) -> None:
    env = {f"{ENV_PREFIX}UPSTREAM": "ftp://env.example", f"{ENV_PREFIX}TIMEOUT": "0"}
    usage_error(run(*GATEWAY, env=env), "--timeout must be positive")  # the env's timeout
    env[f"{ENV_PREFIX}TIMEOUT"] = "5"
    result = run(*GATEWAY, "--data-dir", str(tmp_path), env=env)
    usage_error(result, "run `certbound serve` once")  # past the checks of the flag's upstream


def test_gateway_needs_upstream_and_issuer() -> None:
    result = run("gateway", "--issuer", "https://as.example")
    assert result.exit_code == 2
    assert "--upstream" in result.stderr


def test_plain_http_needs_a_trusted_proxy() -> None:
    usage_error(run(*GATEWAY, "--no-tls"), "--no-tls needs --trusted-proxy")


def test_introspection_needs_the_gateways_own_certificate(tls: Tls) -> None:
    result = run(*GATEWAY, "--introspection", "--client-id", "gw", *tls.flags())
    usage_error(result, "--introspection needs --client-id, --client-cert and --client-key")


def test_bad_trusted_proxy_is_named(tls: Tls) -> None:
    result = run(*GATEWAY, "--trusted-proxy", "10.0.0.1/8", *tls.flags())
    usage_error(result, "--trusted-proxy: trusted proxy '10.0.0.1/8' is not an IP address or CIDR")


def test_bad_scope_is_named(tls: Tls) -> None:
    usage_error(run(*GATEWAY, "--scope", 'a"b', *tls.flags()), "not an RFC 6749 §3.3 scope-token")


def test_tls_cert_needs_its_key(tls: Tls) -> None:
    result = run(*GATEWAY, "--tls-cert", str(tls.cert))
    usage_error(result, "give both --tls-cert and --tls-key, or neither")


def test_own_tls_certificate_needs_trust_anchors(tls: Tls) -> None:
    result = run(*GATEWAY, "--tls-cert", str(tls.cert), "--tls-key", str(tls.key))
    usage_error(result, "--trust-anchors is required with --tls-cert")


def test_missing_tls_file_is_named(tls: Tls, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    result = run(*GATEWAY, "--tls-cert", str(missing), "--tls-key", str(tls.key),
                 "--trust-anchors", str(tls.root))  # fmt: skip
    usage_error(result, f"--tls-cert: {missing} is not a file")


def test_key_that_does_not_fit_the_certificate_is_a_usage_error(tls: Tls) -> None:
    result = run(*GATEWAY, "--tls-cert", str(tls.cert), "--tls-key", str(tls.root),
                 "--trust-anchors", str(tls.root))  # fmt: skip
    usage_error(result, "TLS files:")


def test_missing_upstream_ca_is_named(tls: Tls, tmp_path: Path) -> None:
    result = run(*GATEWAY, "--upstream-ca", str(tmp_path / "ca.pem"), *tls.flags())
    usage_error(result, "--upstream-ca:")


@pytest.mark.parametrize("command", ["gateway", "example-api"])
def test_without_tls_flags_the_development_files_must_exist(command: str, tmp_path: Path) -> None:
    args = GATEWAY if command == "gateway" else ("example-api",)
    result = run(*args, "--data-dir", str(tmp_path / "data"))
    usage_error(result, "run `certbound serve` once")
    assert not (tmp_path / "data").exists()  # never created here: `serve` must create it


def test_example_api_refuses_an_issuer_that_is_not_https(tls: Tls) -> None:
    result = run("example-api", "--issuer", "http://as.example", *tls.flags())
    usage_error(result, "--issuer: the issuer must be an https URL")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", ["gateway", "example-api"])
def test_busy_port_is_a_failure_before_anything_is_printed(
    command: str, tls: Tls, busy_port: int
) -> None:
    args = GATEWAY if command == "gateway" else ("example-api",)
    result = run(*args, "--port", str(busy_port), *tls.flags())
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{busy_port}" in result.stderr
    assert result.stdout == ""


def test_help_names_the_environment_variables() -> None:
    result = run("gateway", "--help")
    assert result.exit_code == 0
    assert f"{ENV_PREFIX}UPSTREAM" in result.stdout


def test_demo_help_runs_without_a_terminal() -> None:
    result = run("demo", "--help")
    assert result.exit_code == 0
    assert "--data-dir" in result.stdout
