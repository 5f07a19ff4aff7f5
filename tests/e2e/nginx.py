"""Real TLS-terminating proxies for the end-to-end tests: nginx, and HAProxy.

Each proxy runs the configuration documented in docs/deploy (nginx.conf, haproxy.cfg), rendered
by :func:`render`: only the values on the lines marked ``# EDIT(key)`` are replaced, so the
documentation cannot rot. The two listening sockets (issuer host, mTLS alias host) are bound
here on 127.0.0.1 port 0 and handed to the proxy (nginx: the ``NGINX`` variable of its binary
upgrade; HAProxy: ``bind fd@N``), so no port is guessed. Each proxy is stopped by its PID.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy"
PROXIES = ("nginx", "haproxy")
_EDIT = re.compile(r"#\s*EDIT\((\w+)\)")


@dataclass(frozen=True)
class ProxyTls:
    """What the proxy presents and trusts."""

    chain: Path  # the proxy's server certificate chain (PEM, leaf first)
    key: Path
    client_ca: Path  # HAProxy's "verify" needs a CA file (errors are ignored)
    upstream_ca: Path  # verifies certbound's server certificate
    upstream_name: str  # the name in certbound's server certificate


@dataclass(frozen=True)
class Proxy:
    kind: str
    issuer_port: int
    mtls_port: int
    log: Path

    @property
    def issuer_url(self) -> str:
        return f"https://127.0.0.1:{self.issuer_port}"

    @property
    def mtls_url(self) -> str:
        return f"https://127.0.0.1:{self.mtls_port}"


def render(template: str, edits: Mapping[str, Mapping[str, str]]) -> str:
    """Apply ``edits[key]`` (old → new substrings) to each line marked ``# EDIT(key)``.

    Every marked key must have edits, every edit must apply, and every key must be used.
    """
    out, used = [], set()
    for line in template.splitlines(keepends=True):
        if match := _EDIT.search(line):
            key = match.group(1)
            if key not in edits:
                raise KeyError(f"no edits for EDIT({key}) in: {line.strip()}")
            code, marker = line[: match.start()], line[match.start() :]
            for old, new in edits[key].items():
                if old not in code:
                    raise ValueError(f"EDIT({key}): {old!r} not in: {line.strip()}")
                code = code.replace(old, new)
            line = code + marker
            used.add(key)
        out.append(line)
    if unused := set(edits) - used:
        raise KeyError(f"edits for keys not in the template: {sorted(unused)}")
    return "".join(out)


def executable(name: str) -> str:
    found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if found is None:
        raise RuntimeError(f"{name} is not installed (.ci/run installs it: apt-get install {name})")
    return found


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def nginx_config(workdir: Path, ports: tuple[int, int], tls: ProxyTls, upstream: int) -> str:
    """docs/deploy/nginx.conf for these paths, inside a minimal main configuration."""
    site = render(
        (DEPLOY / "nginx.conf").read_text(encoding="utf-8"),
        {
            "upstream": {"127.0.0.1:8443": f"127.0.0.1:{upstream}"},
            "issuer_listen": {"listen 443 ssl": f"listen 127.0.0.1:{ports[0]} ssl"},
            "mtls_listen": {"listen 443 ssl": f"listen 127.0.0.1:{ports[1]} ssl"},
            "issuer_name": {"as.example.com": "127.0.0.1"},
            "mtls_name": {"mtls.as.example.com": "127.0.0.1"},
            "proxy_cert": {"/etc/nginx/certbound/proxy-chain.pem": str(tls.chain)},
            "proxy_key": {"/etc/nginx/certbound/proxy.key": str(tls.key)},
            "upstream_ca": {"/etc/nginx/certbound/certbound-ca.pem": str(tls.upstream_ca)},
            "upstream_name": {"localhost": tls.upstream_name},
        },
    )
    (workdir / "certbound.conf").write_text(site, encoding="utf-8")
    temp = " ".join(
        f"{kind}_temp_path {workdir / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    return (
        "daemon off;\nworker_processes 1;\n"
        # as root, workers would run as nobody, who cannot enter pytest's private tmp dirs
        + ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {workdir / 'nginx.pid'};\nerror_log {workdir / 'error.log'} info;\n"
        + "events { worker_connections 128; }\n"
        + f"http {{ access_log {workdir / 'access.log'}; {temp} "
        + f"uwsgi_temp_path {workdir / 'uwsgi'}; scgi_temp_path {workdir / 'scgi'}; "
        + f"include {workdir / 'certbound.conf'}; }}\n"
    )


def haproxy_config(workdir: Path, fds: tuple[int, int], tls: ProxyTls, upstream: int) -> str:
    """docs/deploy/haproxy.cfg for these paths and inherited sockets."""
    crt = workdir / "proxy.pem"  # HAProxy: chain and key in one file
    crt.write_bytes(tls.chain.read_bytes() + tls.key.read_bytes())
    bind = {
        "/etc/haproxy/certbound/proxy.pem": str(crt),
        "/etc/haproxy/certbound/client-ca.pem": str(tls.client_ca),
    }
    return render(
        (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8"),
        {
            "issuer_bind": {"192.0.2.10:443": f"fd@{fds[0]}", **bind},
            "mtls_bind": {"192.0.2.11:443": f"fd@{fds[1]}", **bind},
            "upstream": {
                "127.0.0.1:8443": f"127.0.0.1:{upstream}",
                "/etc/haproxy/certbound/certbound-ca.pem": str(tls.upstream_ca),
                "str(localhost)": f"str({tls.upstream_name})",
                "verifyhost localhost": f"verifyhost {tls.upstream_name}",
            },
        },
    )


def _command(
    kind: str,
    workdir: Path,
    socks: tuple[socket.socket, socket.socket],
    tls: ProxyTls,
    upstream: int,
) -> tuple[list[str], dict[str, str]]:
    """argv and environment; nginx inherits the sockets through NGINX, HAProxy as fd@N."""
    fds = (socks[0].fileno(), socks[1].fileno())
    if kind == "nginx":
        ports = (socks[0].getsockname()[1], socks[1].getsockname()[1])
        (workdir / "nginx.conf").write_text(nginx_config(workdir, ports, tls, upstream))
        argv = [executable("nginx"), "-p", str(workdir), "-e", str(workdir / "error.log"),
                "-c", str(workdir / "nginx.conf")]  # fmt: skip
        return argv, {**os.environ, "NGINX": "".join(f"{fd};" for fd in fds)}
    if kind == "haproxy":
        (workdir / "haproxy.cfg").write_text(haproxy_config(workdir, fds, tls, upstream))
        return [executable("haproxy"), "-db", "-f", str(workdir / "haproxy.cfg")], dict(os.environ)
    raise ValueError(f"unknown proxy {kind!r}")


def _wait_ready(proc: subprocess.Popen[bytes], proxy: Proxy, ca: Path, timeout: float) -> None:
    """Until /healthz answers through the proxy (so certbound is reachable too)."""
    context = ssl.create_default_context(cafile=ca)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{proxy.issuer_url}/healthz", verify=context, timeout=2).text == "ok":
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proxy.kind} did not start:\n{_tail(proxy.log)}")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


def _stop(proc: subprocess.Popen[bytes], kind: str) -> None:
    proc.send_signal(signal.SIGQUIT if kind == "nginx" else signal.SIGUSR1)  # graceful
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextmanager
def run_proxy(
    kind: str,
    workdir: Path,
    socks: tuple[socket.socket, socket.socket],
    tls: ProxyTls,
    *,
    upstream_port: int,
    ca_file: Path,
) -> Iterator[Proxy]:
    """Run ``kind`` on the two bound sockets (issuer, mTLS) in front of ``upstream_port``.

    The sockets are handed over to the proxy and closed here; ``ca_file`` verifies the proxy.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / ("error.log" if kind == "nginx" else "output.log")
    proxy = Proxy(kind, socks[0].getsockname()[1], socks[1].getsockname()[1], log)
    argv, env = _command(kind, workdir, socks, tls, upstream_port)
    with open(workdir / "output.log", "wb") as output:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            pass_fds=[s.fileno() for s in socks],
        )
    for sock in socks:
        sock.close()
    try:
        _wait_ready(proc, proxy, ca_file, timeout=15)
        yield proxy
    finally:
        _stop(proc, kind)
