"""Helpers shared by the resource-server, gateway and demo end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO

from asserver import AsServer
from cryptography import x509

from certbound.core.clients import TLS_CLIENT_AUTH
from certbound.core.clients import Client as Registration
from certbound.core.mtls.certificate import x5t_s256
from certbound.core.ports import TokenSigner
from certbound.core.tokens.access_token import issue_access_token
from certbound.storage.sql import open_store
from conftest import PkiFiles

CLIENT_DN = "CN=client-1,O=certbound tests"
OTHER_DN = "CN=client-2,O=certbound tests"
EXPIRED = "the token has expired"
OTHER_AUDIENCE = "the token is not intended for this audience"
OTHER_ISSUER = "the token was issued by another issuer"
UNKNOWN_KID = "the token was signed with an unknown key (kid)"
START_TIMEOUT = 20.0


class SkewClock:
    """A resource server's clock: real time plus a settable skew (seconds)."""

    def __init__(self) -> None:
        self.skew = 0.0

    def __call__(self) -> float:
        return time.time() + self.skew


def dn_client(
    client_id: str, subject_dn: str, scope: Sequence[str], **extra: object
) -> Registration:
    return Registration(
        client_id=client_id,
        token_endpoint_auth_method=TLS_CLIENT_AUTH,
        tls_client_auth_subject_dn=subject_dn,
        scope=tuple(scope),
        extra=dict(extra),
    )


def register(server: AsServer, *clients: Registration) -> None:
    """Add registrations to the running AS's database (it reads clients per request)."""

    async def add() -> None:
        stores = await open_store(server.settings.database_url)
        try:
            for client in clients:
                await stores.clients.add(client)
        finally:
            await stores.close()

    asyncio.run(add())


def mint(
    server: AsServer,
    files: PkiFiles,
    *,
    client_id: str = "rs-client",
    signer: TokenSigner | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    issued_at: float | None = None,
) -> str:
    """A token bound to client.pem, signed by the AS's active key unless ``signer`` is given."""
    leaf = x509.load_pem_x509_certificate(files.cert("client").read_bytes())
    return issue_access_token(
        signer or server.runtime.keys.active,
        issuer=issuer or server.issuer,
        client_id=client_id,
        subject=client_id,
        audience=audience or server.issuer,
        scope=("read", "write"),
        lifetime=600,
        now=int(issued_at if issued_at is not None else time.time()),
        cnf_thumbprint=x5t_s256(leaf),
    ).token


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _stop(process: subprocess.Popen[str]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(5)


@contextmanager
def running_command(args: Sequence[str], pattern: str) -> Iterator[str]:
    """Run ``certbound ARGS`` (a server) until the block ends; yield group 1 of the first
    output line matching ``pattern``. It must then stop on SIGTERM with exit code 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", "certbound", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True)
    reader.start()
    output: list[str] = []
    try:
        yield _wait_for(lines, output, re.compile(pattern))
    finally:
        code = _stop(process)
        reader.join(5)
        process.stdout.close()
    while (line := lines.get_nowait() if not lines.empty() else None) is not None:
        output.append(line)
    assert code == 0, "".join(output)


def _wait_for(lines: queue.Queue[str | None], output: list[str], pattern: re.Pattern[str]) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        output.append(line)
        if match := pattern.search(line):
            return match.group(1)
    raise AssertionError("the command did not start:\n" + "".join(output))
