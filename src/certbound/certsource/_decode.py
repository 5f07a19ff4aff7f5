"""Shared decoding for every certificate source: PEM framing, DER loading and size limits.

Limits bound the work an attacker-supplied value can cause before any signature check:
at most :data:`MAX_INTERMEDIATES` certificates after the leaf, :data:`MAX_CHAIN_BYTES` of DER in
total, and :data:`MAX_FIELD_CHARS` characters of raw field value.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import Protocol

from cryptography import x509

from certbound.core.mtls.certificate import CertificateSource, PeerCertificate

from .errors import CertificateSourceError

__all__ = [
    "MAX_CHAIN_BYTES",
    "MAX_FIELD_CHARS",
    "MAX_INTERMEDIATES",
    "Fail",
    "decode_pem_certificates",
    "load_chain",
    "require_field_size",
]

MAX_INTERMEDIATES = 10
MAX_CHAIN_BYTES = 64 * 1024
MAX_FIELD_CHARS = 256 * 1024


class Fail(Protocol):
    """Builds the error to raise from a one-line public reason; it knows the header or source.

    ``functools.partial(CertificateHeaderError, "Client-Cert")`` is one.
    """

    def __call__(self, reason: str, *, detail: str | None = None) -> CertificateSourceError: ...


# RFC 7468 §2 framing. The body class excludes '-', so matching is linear; the body is
# whitespace-insensitive, which also covers nginx's legacy tab-continued $ssl_client_cert.
_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*)-----END CERTIFICATE-----")


def require_field_size(value: str | bytes, fail: Fail) -> None:
    if len(value) > MAX_FIELD_CHARS:
        raise fail(f"value longer than {MAX_FIELD_CHARS} characters")


def decode_pem_certificates(text: str, fail: Fail) -> list[bytes]:
    """Return the DER of each ``CERTIFICATE`` block in ``text`` (RFC 7468), in order.

    Anything but whitespace outside the blocks, a block that is not base64, or no block at
    all is an error.
    """
    ders: list[bytes] = []
    position = 0
    for match in _PEM_BLOCK.finditer(text):
        if text[position : match.start()].strip():
            raise fail("unexpected text around the PEM certificate")
        body = "".join(match.group(1).split())
        try:
            ders.append(base64.b64decode(body, validate=True))
        except binascii.Error as exc:
            raise fail("PEM certificate is not valid base64", detail=str(exc)) from exc
        position = match.end()
    if text[position:].strip():
        raise fail("unexpected text around the PEM certificate")
    if not ders:
        raise fail("no PEM certificate")
    return ders


def load_chain(ders: Sequence[bytes], source: CertificateSource, fail: Fail) -> PeerCertificate:
    """Build a :class:`PeerCertificate` from DER certificates, leaf first, within the limits."""
    if not ders:
        raise fail("no certificate")
    if len(ders) > 1 + MAX_INTERMEDIATES:
        raise fail(f"more than {MAX_INTERMEDIATES} chain certificates")
    if sum(len(d) for d in ders) > MAX_CHAIN_BYTES:
        raise fail(f"certificates larger than {MAX_CHAIN_BYTES} bytes in total")
    certs: list[x509.Certificate] = []
    for index, der in enumerate(ders):
        if not der:
            raise fail("empty certificate")
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            what = "leaf" if index == 0 else f"chain certificate {index}"
            raise fail(f"{what} is not a DER X.509 certificate", detail=str(exc)) from exc
    return PeerCertificate(tuple(certs), source)
