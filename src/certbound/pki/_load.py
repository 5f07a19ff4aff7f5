"""Reading certificate and key files, with one-line errors for every way they can be bad."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from certbound.pki._errors import PkiError

__all__ = ["load_certificates", "read_file"]

_BEGIN = b"-----BEGIN CERTIFICATE-----"
_END = b"-----END CERTIFICATE-----"


def read_file(path: Path) -> bytes:
    """The bytes of ``path``; :class:`PkiError` if it is missing, a directory, unreadable or empty."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PkiError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise PkiError(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise PkiError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data.strip():
        raise PkiError(f"{path} is empty")
    return data


def load_certificates(data: bytes, *, label: str) -> tuple[x509.Certificate, ...]:
    """All certificates in a PEM bundle (in file order), or the one certificate of a DER file.

    A bundle with a truncated or damaged block is refused as a whole, never half-read.
    """
    if _BEGIN in data:
        return _load_pem(data, label)
    if data.lstrip().startswith(b"-----BEGIN"):
        raise PkiError(f"{label} holds no certificate (another kind of PEM block)")
    try:
        return (x509.load_der_x509_certificate(data),)
    except ValueError:
        raise PkiError(f"{label} is not a PEM or DER certificate (truncated or damaged)") from None


def _load_pem(data: bytes, label: str) -> tuple[x509.Certificate, ...]:
    expected = data.count(_BEGIN)
    if data.count(_END) != expected:
        raise PkiError(f"{label} has a truncated PEM certificate (BEGIN without END)")
    try:
        certs = tuple(x509.load_pem_x509_certificates(data))
    except ValueError:
        raise PkiError(f"{label} has a damaged PEM certificate (bad base64 or DER)") from None
    if len(certs) != expected:
        raise PkiError(f"{label} has a damaged PEM certificate ({len(certs)} of {expected} read)")
    return certs
