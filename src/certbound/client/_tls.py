"""The client's TLS side: its certificate and key, and the ``ssl.SSLContext`` that presents them.

A certificate file may hold the chain (leaf first) and, when no key file is given, the key too;
a ``.p12`` / ``.pfx`` file is PKCS#12 (RFC 7292). Keys are read by :mod:`certbound.pki.keys`, so
encrypted PKCS#8 / PKCS#1 / SEC1 all work; the passphrase comes from the argument, then a
passphrase file, then ``$CERTBOUND_KEY_PASSPHRASE``, and is asked for only if the key is encrypted.

The key is checked against the certificate *before* any connection (a mismatch otherwise shows
up as an obscure handshake failure). ``SSLContext.load_cert_chain`` reads only files, so the key
is handed to OpenSSL through an anonymous in-memory file (Linux ``memfd``) or, elsewhere, a 0600
temporary file removed right after loading; either way it is re-encrypted first with a random
one-time password, so it never exists unencrypted outside this process's memory.
"""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, pkcs12

from certbound.client._errors import ClientConfigError
from certbound.core.mtls.certificate import x5t_s256
from certbound.pki import PkiError, load_certificates, read_file
from certbound.pki.export import export_pem
from certbound.pki.keys import PassphraseSource, PrivateKey, encode_private_key, load_private_key

__all__ = [
    "KEY_PASSPHRASE_ENV",
    "ClientIdentity",
    "client_ssl_context",
    "load_client_identity",
    "server_trust_context",
]

KEY_PASSPHRASE_ENV = "CERTBOUND_KEY_PASSPHRASE"  # noqa: S105 (a variable name)
_PKCS12_SUFFIXES = (".p12", ".pfx")


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """A client certificate chain (leaf first) and the private key of its leaf."""

    chain: tuple[x509.Certificate, ...]
    key: PrivateKey = field(repr=False)

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def thumbprint(self) -> str:
        """The leaf's RFC 8705 §3.1 ``x5t#S256``: what a bound token's ``cnf`` must carry."""
        return x5t_s256(self.leaf)

    def ssl_context(self, ca: Path | None = None) -> ssl.SSLContext:
        """A client context presenting this identity and trusting ``ca`` (else the system CAs)."""
        ctx = server_trust_context(ca)
        password = secrets.token_urlsafe(32).encode("ascii")
        pem = export_pem(self.chain) + encode_private_key(self.key, password)
        with _private_file(pem) as path:
            ctx.load_cert_chain(path, password=password)
        return ctx


def server_trust_context(ca: Path | None) -> ssl.SSLContext:
    """A TLS client context (TLS ≥ 1.2, hostname checked) trusting ``ca`` or the system CAs."""
    try:
        if ca is not None and ca.is_dir():
            return ssl.create_default_context(capath=str(ca))
        return ssl.create_default_context(cafile=None if ca is None else str(ca))
    except FileNotFoundError:
        raise ClientConfigError(f"the CA file {ca} does not exist") from None
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ClientConfigError(
            f"the CA file {ca} holds no usable PEM certificate: {exc}"
        ) from None


def load_client_identity(
    cert: Path,
    key: Path | None = None,
    *,
    passphrase: bytes | None = None,
    passphrase_file: Path | None = None,
) -> ClientIdentity:
    """Read the certificate (chain) and key; :class:`ClientConfigError` names what is wrong.

    ``key`` None: the key is in ``cert`` (PEM with both, or PKCS#12).
    """
    source = _passphrase_source(passphrase, passphrase_file)
    try:
        data = read_file(cert)
        if key is None and cert.suffix.lower() in _PKCS12_SUFFIXES:
            return _load_pkcs12(data, source, label=str(cert))
        chain = load_certificates(data, label=str(cert))
        key_label = str(key) if key is not None else f"the key in {cert}"
        if key is None and b"PRIVATE KEY-----" not in data:
            raise ClientConfigError(f"{cert} holds no private key: pass the key file as well")
        private = load_private_key(read_file(key) if key else data, source, label=key_label)
    except PkiError as exc:
        raise ClientConfigError(str(exc)) from None
    return _matched(chain, private, cert_label=str(cert), key_label=key_label)


def client_ssl_context(
    cert: Path,
    key: Path | None,
    *,
    ca: Path | None = None,
    passphrase: bytes | None = None,
    passphrase_file: Path | None = None,
) -> ssl.SSLContext:
    """An ``ssl.SSLContext`` (for httpx ``verify=``) presenting ``cert`` and trusting ``ca``."""
    identity = load_client_identity(
        cert, key, passphrase=passphrase, passphrase_file=passphrase_file
    )
    return identity.ssl_context(ca)


def _matched(
    chain: tuple[x509.Certificate, ...], key: PrivateKey, *, cert_label: str, key_label: str
) -> ClientIdentity:
    """The identity, if ``key`` is the private half of the leaf (the first certificate)."""
    spki = [_spki(c.public_key()) for c in chain]
    mine = _spki(key.public_key())
    if spki[0] != mine:
        hint = (
            ": it belongs to a later certificate; the file must start with the leaf"
            if mine in spki
            else ""
        )
        raise ClientConfigError(
            f"the private key does not match the certificate ({key_label} is not the key of "
            f"the first certificate in {cert_label}{hint})"
        )
    return ClientIdentity(chain, key)


def _spki(public: CertificatePublicKeyTypes) -> bytes:
    return public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _load_pkcs12(data: bytes, passphrase: PassphraseSource, *, label: str) -> ClientIdentity:
    """RFC 7292: the key, its certificate and the extra certificates (kept in file order)."""
    try:
        loaded = pkcs12.load_pkcs12(data, None)
    except ValueError:
        try:
            loaded = pkcs12.load_pkcs12(data, passphrase())
        except ValueError:
            raise ClientConfigError(f"{label}: wrong passphrase, or not a PKCS#12 file") from None
    if loaded.key is None or loaded.cert is None:
        raise ClientConfigError(f"{label} must hold a private key and its certificate")
    extra = tuple(c.certificate for c in loaded.additional_certs)
    private = loaded.key
    if not isinstance(private, PrivateKey):  # DSA, X448, ...
        raise ClientConfigError(f"{label}: unsupported key type {type(private).__name__}")
    return _matched(
        (loaded.cert.certificate, *extra),
        private,
        cert_label=label,
        key_label=f"the key in {label}",
    )


def _passphrase_source(passphrase: bytes | None, file: Path | None) -> PassphraseSource:
    """Argument, then the file's first line, then the environment; asked only when needed."""

    def source() -> bytes:
        if passphrase is not None:
            return passphrase
        if file is not None:
            try:
                lines = read_file(file).splitlines()
            except PkiError as exc:
                raise ClientConfigError(f"passphrase file: {exc}") from None
            return lines[0]
        value = os.environ.get(KEY_PASSPHRASE_ENV)
        if value:
            return value.encode()
        raise ClientConfigError(
            f"the private key is encrypted: pass a passphrase, a passphrase file or set "
            f"{KEY_PASSPHRASE_ENV}"
        )

    return source


@contextmanager
def _private_file(data: bytes, *, memory: bool | None = None) -> Iterator[str]:
    """A path OpenSSL can read ``data`` from: a memfd if possible, else a 0600 temp file."""
    use_memfd = hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")
    if memory if memory is not None else use_memfd:
        fd = os.memfd_create("certbound-client", os.MFD_CLOEXEC)
        try:
            with open(fd, "wb", closefd=False) as out:
                out.write(data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    fd, path = tempfile.mkstemp(prefix="certbound-client-", suffix=".pem")  # mode 0600
    try:
        with open(fd, "wb") as out:
            out.write(data)
        yield path
    finally:
        os.unlink(path)
