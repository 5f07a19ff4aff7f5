"""First run of ``certbound serve``: a working development environment in the data directory.

Creates, once, a development CA (root + intermediate), a server certificate for localhost /
127.0.0.1 / ::1, and a demo client certificate (``CN=demo-client,O=certbound demo``) that the
server registers as a ``tls_client_auth`` client. Keys are written ``0600`` without a passphrase:
this is a development default; production deployments configure ``tls.*`` and ``trust.*``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from certbound.pki import (
    CaSpec,
    LeafSpec,
    OutputFile,
    Profile,
    SubjectAltNames,
    ca_files,
    create_ca,
    encode_private_key,
    issue_certificate,
    load_ca,
    parse_subject,
    write_outputs,
)

__all__ = ["DEMO_CLIENT_ID", "DEMO_SUBJECT_DN", "DevEnvironment", "ensure_dev_environment"]

DEMO_CLIENT_ID = "demo-client"
DEMO_SUBJECT_DN = "CN=demo-client,O=certbound demo"
_SERVER_RENEW_BEFORE = dt.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class DevEnvironment:
    data_dir: Path
    created: bool  # True when this call created the environment (first run)

    @property
    def ca_dir(self) -> Path:
        return self.data_dir / "ca"

    @property
    def trust_anchors(self) -> Path:
        return self.ca_dir / "root.pem"

    @property
    def server_chain(self) -> Path:
        return self.data_dir / "tls" / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.data_dir / "tls" / "server.key"

    @property
    def demo_chain(self) -> Path:
        return self.data_dir / "demo" / "demo-client.pem"

    @property
    def demo_key(self) -> Path:
        return self.data_dir / "demo" / "demo-client.key"


def _write_ca(env: DevEnvironment) -> None:
    env.ca_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    created = create_ca(
        CaSpec(subject=parse_subject("CN=certbound Development Root CA,O=certbound"))
    )
    files = ca_files(created, passphrase=None)
    write_outputs(
        [OutputFile(env.ca_dir / n, d, private=n.endswith(".key")) for n, d in files.items()],
        force=False,
    )


def _issue(env: DevEnvironment, spec: LeafSpec, chain: Path, key: Path) -> None:
    chain.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    issued = issue_certificate(load_ca(env.ca_dir, None), spec)
    write_outputs(
        [
            OutputFile(chain, issued.chain_pem()),
            OutputFile(key, encode_private_key(issued.private_key, None), private=True),
        ],
        force=True,
    )


def _server_needs_renewal(path: Path) -> bool:
    if not path.is_file():
        return True
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < _SERVER_RENEW_BEFORE


def ensure_dev_environment(data_dir: Path) -> DevEnvironment:
    """Create what is missing; renew the server certificate when it is about to expire."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = DevEnvironment(data_dir, created=not (data_dir / "ca" / "root.pem").exists())
    if env.created:
        _write_ca(env)
    if _server_needs_renewal(env.server_chain):
        sans = SubjectAltNames.parse(dns=["localhost"], ip=["127.0.0.1", "::1"])
        spec = LeafSpec(
            subject=parse_subject("CN=localhost,O=certbound"),
            sans=sans,
            validity=dt.timedelta(days=365),
            profile=Profile.SERVER,
        )
        _issue(env, spec, env.server_chain, env.server_key)
    if not env.demo_chain.exists():
        spec = LeafSpec(subject=parse_subject(DEMO_SUBJECT_DN), validity=dt.timedelta(days=365))
        _issue(env, spec, env.demo_chain, env.demo_key)
    return env
