"""`certbound serve --workers N`: pre-bound sockets, forked workers, supervision, shutdown."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from certbound.config.settings import ConfigError, load_settings
from certbound.server.workers import WorkerPool, bind_worker_sockets
from clirun import certbound, clean_environ

TIMEOUT = 30.0


def test_each_worker_gets_its_own_socket_on_one_shared_port() -> None:
    groups = bind_worker_sockets([("127.0.0.1", 0), ("127.0.0.1", 0)], 3)
    try:
        assert len(groups) == 3 and all(len(g) == 2 for g in groups)
        for listener in range(2):
            ports = {g[listener].getsockname()[1] for g in groups}
            assert len(ports) == 1
            assert len({g[listener].fileno() for g in groups}) == 3
            reuse = groups[0][listener].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
            assert reuse != 0
        assert groups[0][0].getsockname()[1] != groups[0][1].getsockname()[1]
    finally:
        for group in groups:
            for sock in group:
                sock.close()


def test_one_worker_binds_a_plain_socket() -> None:
    [[sock]] = bind_worker_sockets([("127.0.0.1", 0)], 1)
    with sock:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0


def test_a_busy_port_fails_before_any_worker_and_leaves_nothing_bound() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            bind_worker_sockets([("127.0.0.1", 0), ("127.0.0.1", port)], 2)


def test_zero_workers_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        bind_worker_sockets([("127.0.0.1", 0)], 0)
    with pytest.raises(ValueError, match="at least one worker"):
        WorkerPool(lambda index, sockets: None, [])


# A pool of workers that answer "<pid>\n" on every TCP connection, run in a child interpreter
# (the pool installs signal handlers and forks: not in the test process).
POOL = textwrap.dedent(
    """
    import gc, os, socket, sys
    from certbound.server.workers import WorkerPool, bind_worker_sockets

    def serve(index, sockets):
        [sock] = sockets
        if sys.argv[1] == "fail" and index == 1:
            raise SystemExit(3)
        answer = gc.get_freeze_count() if sys.argv[1] == "frozen" else os.getpid()
        while True:
            conn, _ = sock.accept()
            with conn:
                conn.sendall(b"%d\\n" % answer)

    groups = bind_worker_sockets([("127.0.0.1", 0)], 2)
    print(groups[0][0].getsockname()[1], flush=True)
    sys.exit(WorkerPool(serve, groups, stop_timeout=5).run())
    """
)


def start_pool(mode: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-c", POOL, mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def ask_pid(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        return int(conn.makefile().readline())


def children_of(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def wait_for_workers(pid: int, count: int) -> set[int]:
    deadline = time.monotonic() + TIMEOUT
    while len(workers := children_of(pid)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return workers


def test_connections_are_spread_and_sigterm_stops_every_worker() -> None:
    proc, port = start_pool("serve")
    try:
        workers = wait_for_workers(proc.pid, 2)
        seen = {ask_pid(port) for _ in range(40)}
        assert seen <= workers and len(seen) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
        assert not any(_alive(p) for p in workers)
    finally:
        stop(proc)


def test_workers_inherit_a_frozen_heap() -> None:
    """The parent freezes its heap before forking (gc.freeze): the workers' collectors leave the
    inherited objects alone, so their pages stay shared."""
    proc, port = start_pool("frozen")
    try:
        wait_for_workers(proc.pid, 2)
        frozen = ask_pid(port)  # here: the worker's gc.get_freeze_count()
        assert frozen > 1000  # everything the parent imported and built
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    finally:
        stop(proc)


def test_a_failing_worker_stops_the_others_and_the_exit_status_says_so() -> None:
    proc, port = start_pool("fail")
    try:
        assert proc.wait(TIMEOUT) == 1
        with pytest.raises(ConnectionRefusedError):
            ask_pid(port)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- server.workers = auto
@pytest.mark.usefixtures("no_certbound_env")
@pytest.mark.parametrize("value", ["auto", " AUTO "])
def test_auto_workers_is_one_per_usable_cpu(value: str) -> None:
    expected = min(len(os.sched_getaffinity(0)), 64)
    assert load_settings(overrides={"server.workers": value}).server.workers == expected


@pytest.mark.usefixtures("no_certbound_env")
def test_auto_workers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTBOUND_SERVER__WORKERS", "auto")
    assert load_settings().server.workers == min(len(os.sched_getaffinity(0)), 64)


@pytest.mark.usefixtures("no_certbound_env")
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("lots", "server.workers: must be a number from 1 to 64, or auto"),
        ("2.5", "server.workers: must be a number from 1 to 64, or auto"),
        ("0", "server.workers: Expected `int` >= 1"),
        ("65", "server.workers: Expected `int` <= 64"),
    ],
)
def test_a_bad_worker_count_names_the_key(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(overrides={"server.workers": value})
    assert message in str(caught.value) and "Value error" not in str(caught.value)


def test_serve_refuses_a_bad_worker_count_with_exit_2(tmp_path: Path) -> None:
    out = certbound("serve", "--workers", "lots", "--data-dir", str(tmp_path))
    assert out.returncode == 2
    assert "server.workers: must be a number from 1 to 64, or auto" in out.stderr
    assert not (tmp_path / "certbound.db").exists()  # refused before anything was created


def _two_cpus() -> None:
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])


@pytest.mark.e2e
@pytest.mark.parametrize("workers", ["2", "auto"])
def test_serve_with_two_workers_issues_tokens_and_stops_on_sigterm(
    tmp_path: Path, workers: str
) -> None:
    """``auto`` runs pinned to two CPUs, so it starts two workers too."""
    if workers == "auto" and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("auto: this machine lets the test use one CPU only")
    port, mtls_port = free_port(), free_port()
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "certbound", "serve", "--workers", workers, "--data-dir", str(data),
         "--port", str(port), "--mtls-port", str(mtls_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, env=clean_environ(),
        preexec_fn=_two_cpus,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and not (data / "demo" / "demo-client.key").exists():
            time.sleep(0.2)
        ctx = ssl.create_default_context(cafile=data / "ca" / "root.pem")
        ctx.load_cert_chain(data / "demo" / "demo-client.pem", data / "demo" / "demo-client.key")
        url = f"https://localhost:{mtls_port}/token"
        form = {"grant_type": "client_credentials", "client_id": "demo-client"}
        tokens = _tokens(url, ctx, form, deadline)
        assert len(tokens) == 6 and len(set(tokens)) == 6
        workers = wait_for_workers(proc.pid, 2)
        assert len(workers) == 2
        for pid in (proc.pid, *workers):  # nothing loaded the ~6 MiB of pydantic's core
            assert "pydantic" not in Path(f"/proc/{pid}/maps").read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
        assert not any(_alive(p) for p in workers)
    finally:
        stop(proc)


def _tokens(url: str, ctx: ssl.SSLContext, form: dict[str, str], deadline: float) -> list[str]:
    while True:
        try:
            with httpx.Client(verify=ctx, timeout=5) as client:
                responses = [client.post(url, data=form) for _ in range(6)]
            return [r.json()["access_token"] for r in responses if r.status_code == 200]
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
