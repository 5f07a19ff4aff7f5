"""TLS termination for certbound's own listeners (RFC 8705 §2: the client presents its certificate).

Server contexts are TLS 1.2+ with ECDHE + AEAD suites only. The issuer listener *requests* a client
certificate (``CERT_OPTIONAL``); the mTLS listener *requires* one (``CERT_REQUIRED``).

OpenSSL behaviour this module relies on (checked in tests/server/test_tls_context.py):

- Stdlib ``ssl`` has no verify callback. A presented certificate that does not chain to the trust
  store fails the handshake even with ``CERT_OPTIONAL``. An empty trust store does not stop OpenSSL
  from sending a CertificateRequest (its CA list is empty), so on a ``CERT_OPTIONAL`` listener
  *every* client that presents a certificate fails, and only clients without one get through.
  That is why the issuer listener takes the same trust material as the mTLS listener.
- Every certificate in the store is a trust anchor. A self-signed ``CA:TRUE`` certificate could
  sign a leaf with any subject, so :class:`DynamicTrust` accepts only self-signed ``CA:FALSE``
  certificates (STACK.md, "Trap"). The handshake is never authentication: the app re-validates.
- ``load_verify_locations()`` only adds. To also remove, the listener context has an
  ``sni_callback`` (called also without SNI, e.g. IP literals) that switches the connection to a
  context built for the current trust generation (:func:`switching_context`).
- Session resumption uses the *listener* context's cache; a resumed session skips certificate
  verification, so it outlives a removal from the trust store (up to OpenSSL's session timeout).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

from certbound.server._tlsproto import AuditedSSLObject, switching_context

__all__ = [
    "TLS12_CIPHERS",
    "DynamicServerContext",
    "DynamicTrust",
    "TrustMaterial",
    "build_server_context",
    "require_self_signed_leaf",
    "switching_context",
]

logger = logging.getLogger("certbound.tls")

# TLS 1.2: forward secrecy (ECDHE) and AEAD only; no CBC, no RSA key exchange. TLS 1.3 suites are
# all AEAD and are not affected by this string.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


@dataclass(frozen=True, slots=True)
class TrustMaterial:
    """An immutable set of trust anchors for client certificates, tagged with its generation."""

    certificates: tuple[x509.Certificate, ...]
    generation: int = 0
    pem: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pems = (c.public_bytes(Encoding.PEM).decode("ascii") for c in self.certificates)
        object.__setattr__(self, "pem", "".join(pems))

    @classmethod
    def from_pem(cls, data: bytes) -> TrustMaterial:
        """Parse a PEM bundle. Raises ``ValueError`` when it holds no certificate."""
        return cls(tuple(x509.load_pem_x509_certificates(data)))

    @classmethod
    def from_pem_file(cls, path: Path) -> TrustMaterial:
        return cls.from_pem(path.read_bytes())


def build_server_context(
    cert_chain: Path,
    key: Path,
    *,
    trust: TrustMaterial | None,
    require_client_cert: bool,
    key_password: bytes | None = None,
    session_tickets: bool = False,
) -> ssl.SSLContext:
    """A server context: TLS 1.2+, ECDHE + AEAD, server cipher order, client certificate requested.

    Session resumption stays on through the server-side session cache. Session tickets are off by
    default (``OP_NO_TICKET``: TLS 1.2 resumes by session ID; OpenSSL's TLS 1.3 tickets become
    stateful, pointing into the cache): a stateless ticket costs 0.25–0.35 ms per handshake for
    clients that never resume. ``require_client_cert`` picks ``CERT_REQUIRED`` (mTLS listener)
    over ``CERT_OPTIONAL`` (issuer listener); with ``trust=None`` no presented certificate verifies.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    if session_tickets:
        ctx.options &= ~ssl.OP_NO_TICKET
    else:
        ctx.options |= ssl.OP_NO_TICKET
    ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    # A non-self-signed store entry must never end a chain (3.13 sets this flag in some defaults).
    ctx.verify_flags &= ~ssl.VERIFY_X509_PARTIAL_CHAIN
    ctx.load_cert_chain(cert_chain, key, password=key_password)
    if trust is not None and trust.certificates:
        ctx.load_verify_locations(cadata=trust.pem)
    ctx.sslobject_class = AuditedSSLObject
    return ctx


_NETSCAPE_CERT_TYPE = x509.ObjectIdentifier("2.16.840.1.113730.1.1")


def require_self_signed_leaf(cert: x509.Certificate) -> None:
    """Refuse what could act as a CA once it is a trust anchor (RFC 8705 §2.2; STACK.md "Trap").

    Mirrors OpenSSL's ``check_ca()``: ``CA:TRUE`` is a CA; without basicConstraints, so is a v1
    certificate, one whose keyUsage allows keyCertSign, or one with a Netscape cert type. The
    certificate must also be self-signed. Raises ``ValueError`` naming the cause.
    """
    extensions = cert.extensions
    try:
        is_ca = extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = cert.version is not x509.Version.v3 or _may_sign_without_bc(extensions)
    if is_ca:
        raise ValueError(
            "a certificate that can act as a CA cannot be registered: it could sign any subject"
        )
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise ValueError(f"a registered certificate must be self-signed: {exc}") from None


def _may_sign_without_bc(extensions: x509.Extensions) -> bool:
    try:
        if extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
            return True
    except x509.ExtensionNotFound:
        pass
    try:
        extensions.get_extension_for_oid(_NETSCAPE_CERT_TYPE)
    except x509.ExtensionNotFound:
        return False
    return True


class DynamicTrust:
    """The configured anchors plus registered self-signed client certificates (RFC 8705 §2.2).

    Thread-safe. Each change bumps :attr:`generation`; contexts built from :meth:`snapshot` serve
    new handshakes without a restart (see :class:`DynamicServerContext`).
    """

    def __init__(self, anchors: Iterable[x509.Certificate] = ()) -> None:
        self._lock = threading.Lock()
        self._anchors = tuple(anchors)
        self._registered: frozenset[x509.Certificate] = frozenset()
        self._snapshot = TrustMaterial(self._anchors, 0)

    @property
    def generation(self) -> int:
        return self._snapshot.generation

    @property
    def registered(self) -> frozenset[x509.Certificate]:
        return self._registered

    def snapshot(self) -> TrustMaterial:
        """The current trust material (lock-free read of an immutable value)."""
        return self._snapshot

    def add(self, cert: x509.Certificate) -> None:
        """Register a self-signed ``CA:FALSE`` certificate. Raises ``ValueError`` otherwise."""
        require_self_signed_leaf(cert)
        with self._lock:
            self._publish(self._registered | {cert})

    def discard(self, cert: x509.Certificate) -> None:
        """Unregister a certificate; no-op when it is not registered."""
        with self._lock:
            self._publish(self._registered - {cert})

    def replace_all(self, certs: Iterable[x509.Certificate]) -> None:
        """Replace every registered certificate at once; all are checked before any is used."""
        new = frozenset(certs)
        for cert in new:
            require_self_signed_leaf(cert)
        with self._lock:
            self._publish(new)

    def replace_anchors(self, certs: Iterable[x509.Certificate]) -> None:
        """Replace the configured CA anchors (admin API); new handshakes use them at once.

        The caller validates them (``TrustStore`` refuses a non-CA); the registered self-signed
        certificates are kept. A new generation is published even if the set is unchanged.
        """
        anchors = tuple(certs)
        with self._lock:
            self._anchors = anchors
            generation = self._snapshot.generation + 1
            self._snapshot = TrustMaterial(anchors + tuple(self._registered), generation)

    @property
    def anchors(self) -> tuple[x509.Certificate, ...]:
        return self._anchors

    def _publish(self, registered: frozenset[x509.Certificate]) -> None:
        if registered == self._registered:
            return
        self._registered = registered
        generation = self._snapshot.generation + 1
        self._snapshot = TrustMaterial(self._anchors + tuple(registered), generation)


class DynamicServerContext:
    """A callable returning the server context for the current generation of a :class:`DynamicTrust`.

    Contexts are built on first use per generation and cached (only the newest is kept). Use as
    ``ListenerSpec.context``, or wrap with :func:`switching_context`.
    """

    def __init__(
        self,
        cert_chain: Path,
        key: Path,
        *,
        trust: DynamicTrust,
        require_client_cert: bool,
        key_password: bytes | None = None,
        session_tickets: bool = False,
    ) -> None:
        self._cert_chain, self._key, self._key_password = cert_chain, key, key_password
        self._trust = trust
        self._require_client_cert = require_client_cert
        self._session_tickets = session_tickets
        self._lock = threading.Lock()
        self._current: tuple[int, ssl.SSLContext] | None = None

    def __call__(self) -> ssl.SSLContext:
        snapshot = self._trust.snapshot()
        current = self._current
        if current is not None and current[0] >= snapshot.generation:
            return current[1]
        with self._lock:
            current = self._current
            if current is None or current[0] < snapshot.generation:
                current = (snapshot.generation, self._build(snapshot))
                self._current = current
        return current[1]

    def _build(self, trust: TrustMaterial) -> ssl.SSLContext:
        return build_server_context(
            self._cert_chain,
            self._key,
            trust=trust,
            require_client_cert=self._require_client_cert,
            key_password=self._key_password,
            session_tickets=self._session_tickets,
        )
