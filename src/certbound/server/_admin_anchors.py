"""Trust anchors for ``tls_client_auth``: the configured bundle plus anchors added at run time.

``trust.anchors`` (the operator's file) is never written. Anchors added through the admin API are
kept in ``<data_dir>/trust/anchors-extra.pem``, loaded at start-up in addition to the configured
ones; only those can be removed through the API (a configured anchor is removed by editing its
file). Every change is validated as a whole (a :class:`TrustStore` must accept it: CA
certificates only, RFC 5280 §4.2.1.9), written atomically, then handed to ``on_change`` so that
the TLS listeners (new handshakes) and the core's chain verifier use it without a restart.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certbound.core.mtls.certificate import x5t_s256
from certbound.core.mtls.verification import TrustStore

__all__ = ["EXTRA_ANCHORS_FILE", "AnchorInfo", "ConfiguredAnchorError", "TrustAnchors"]

EXTRA_ANCHORS_FILE: Final = Path("trust") / "anchors-extra.pem"


class ConfiguredAnchorError(ValueError):
    """The anchor comes from the ``trust.anchors`` file, which the API does not edit."""


@dataclass(frozen=True, slots=True)
class AnchorInfo:
    """One trust anchor; ``source`` is ``configured`` (trust.anchors) or ``api``."""

    cert: x509.Certificate
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "x5t#S256": x5t_s256(self.cert),
            "subject": self.cert.subject.rfc4514_string(),
            "issuer": self.cert.issuer.rfc4514_string(),
            "not_before": self.cert.not_valid_before_utc.isoformat(),
            "not_after": self.cert.not_valid_after_utc.isoformat(),
            "source": self.source,
            "pem": self.cert.public_bytes(Encoding.PEM).decode("ascii"),
        }


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class TrustAnchors:
    """The configured anchors (fixed) and the API's (persisted); thread-safe."""

    def __init__(
        self,
        configured: TrustStore,
        extra_file: Path,
        extra: Iterable[x509.Certificate] = (),
        on_change: Callable[[TrustStore], None] | None = None,
    ) -> None:
        self._configured = configured
        self._file = extra_file
        self._extra = tuple(c for c in dict.fromkeys(extra) if c not in configured.anchors)
        self._lock = threading.Lock()
        self.on_change = on_change
        self._store = self._combine(self._extra)

    @classmethod
    def load(cls, configured: TrustStore, extra_file: Path) -> TrustAnchors:
        """Read ``extra_file`` if it exists; ValueError naming it when it is unusable."""
        extra: list[x509.Certificate] = []
        if extra_file.exists():
            try:
                data = extra_file.read_bytes()
                extra = x509.load_pem_x509_certificates(data) if data.strip() else []
            except (OSError, ValueError) as exc:
                raise ValueError(f"{extra_file}: {exc}") from None
        try:
            return cls(configured, extra_file, extra)
        except ValueError as exc:
            raise ValueError(f"{extra_file}: {exc}") from None

    def store(self) -> TrustStore:
        """Every anchor, with the configured CRLs."""
        return self._store

    def entries(self) -> list[AnchorInfo]:
        configured = [AnchorInfo(c, "configured") for c in self._configured.anchors]
        return configured + [AnchorInfo(c, "api") for c in self._extra]

    def add(self, certs: Sequence[x509.Certificate], now: dt.datetime) -> list[AnchorInfo]:
        """Add CA certificates (ValueError naming the first unusable one); returns those that
        were not anchors yet."""
        for cert in certs:
            if cert.not_valid_after_utc <= now:
                raise ValueError(f"{cert.subject.rfc4514_string()!r} has expired")
        with self._lock:
            known = set(self._configured.anchors) | set(self._extra)
            new = [c for c in dict.fromkeys(certs) if c not in known]
            if new:
                self._commit((*self._extra, *new))
        return [AnchorInfo(c, "api") for c in new]

    def remove(self, thumbprint: str) -> bool:
        """Remove an API anchor; False if unknown, ConfiguredAnchorError if configured."""
        if any(x5t_s256(c) == thumbprint for c in self._configured.anchors):
            raise ConfiguredAnchorError(
                "this anchor is configured in trust.anchors: edit that file to remove it"
            )
        with self._lock:
            kept = tuple(c for c in self._extra if x5t_s256(c) != thumbprint)
            if len(kept) == len(self._extra):
                return False
            self._commit(kept)
        return True

    def _combine(self, extra: tuple[x509.Certificate, ...]) -> TrustStore:
        return TrustStore((*self._configured.anchors, *extra), self._configured.crls)

    def _commit(self, extra: tuple[x509.Certificate, ...]) -> None:
        store = self._combine(extra)  # validates (CA:TRUE) before anything is written
        pem = b"".join(c.public_bytes(Encoding.PEM) for c in extra)
        _write_atomically(self._file, pem)
        self._extra, self._store = extra, store
        if self.on_change is not None:
            self.on_change(store)
