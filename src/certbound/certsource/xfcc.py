"""Envoy's ``x-forwarded-client-cert`` (XFCC) header.

Format (Envoy "HTTP header manipulation" docs): the value is a ``,``-separated list of
*elements*, one per proxy hop; each element is a ``;``-separated list of ``key=value`` pairs.
Keys are case-insensitive; a value containing ``,``, ``;`` or ``=`` is double-quoted, and a
``"`` inside a quoted value is written ``\\"``. Keys used here:

- ``Cert``: the leaf, URL-encoded PEM; ``Chain``: the whole chain, URL-encoded PEM, leaf first;
- ``Hash``: hex SHA-256 of the leaf DER (checked when present);
- ``By``, ``Subject``, ``URI``, ``DNS``: informational, kept but not used (the certificate is).

Envoy *appends* its element, so the **last** element is the one written by the proxy nearest to
us, the trusted one; that is the only element used. Configure that proxy with
``forward_client_cert_details: SANITIZE_SET`` so no element of an earlier hop survives when the
client sent no certificate.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import partial
from urllib.parse import unquote_to_bytes

from certbound.core.mtls.certificate import CertificateSource, PeerCertificate

from ._decode import Fail, decode_pem_certificates, load_chain, require_field_size
from ._xfcc_tokens import KEY_PATTERN as _KEY
from ._xfcc_tokens import split_elements
from .errors import CertificateHeaderError, CertificateSourceError

__all__ = ["XFCC_HEADER", "XfccElement", "format_xfcc_element", "parse_xfcc", "parse_xfcc_elements"]

XFCC_HEADER = "x-forwarded-client-cert"
_SINGLE_KEYS = ("by", "hash", "cert", "chain", "subject")


@dataclass(frozen=True, slots=True)
class XfccElement:
    """One proxy's element: its ``(key, value)`` pairs in order, keys lower-cased, values decoded."""

    pairs: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.pairs if k == key.lower()), None)

    def get_all(self, key: str) -> tuple[str, ...]:
        return tuple(v for k, v in self.pairs if k == key.lower())


def parse_xfcc_elements(value: str, *, header: str = XFCC_HEADER) -> tuple[XfccElement, ...]:
    """Tokenize an XFCC value into its elements (first hop first)."""
    fail: Fail = partial(CertificateHeaderError, header)
    require_field_size(value, fail)
    elements = tuple(XfccElement(pairs) for pairs in split_elements(value, fail))
    for element in elements:
        for key in _SINGLE_KEYS:
            if len(element.get_all(key)) > 1:
                raise fail(f"key {key} repeated in one element")
    return elements


def _pem_ders(encoded: str, key: str, fail: Fail) -> list[bytes]:
    try:
        text = unquote_to_bytes(encoded).decode("ascii")
    except UnicodeError as exc:
        raise fail(f"{key} is not URL-encoded PEM", detail=repr(exc)) from exc
    return decode_pem_certificates(text, partial(_prefixed, fail, key))


def _prefixed(
    fail: Fail, key: str, reason: str, *, detail: str | None = None
) -> CertificateSourceError:
    return fail(f"{key}: {reason}", detail=detail)


def _leaf_and_chain(element: XfccElement, fail: Fail) -> list[bytes]:
    """The DER chain, leaf first: ``Chain`` if present, else ``Cert``; both must agree."""
    cert, chain = element.get("cert"), element.get("chain")
    if not cert and not chain:
        raise fail("last element has no Cert or Chain")
    ders = _pem_ders(chain, "Chain", fail) if chain else []
    if cert:
        cert_ders = _pem_ders(cert, "Cert", fail)
        if len(cert_ders) != 1:
            raise fail("Cert holds more than one certificate")
        if not ders:
            return cert_ders
        if ders[0] != cert_ders[0]:
            raise fail("Cert is not the first certificate of Chain")
    return ders


def parse_xfcc(value: str, *, header: str = XFCC_HEADER) -> PeerCertificate:
    """Read the chain (leaf first) from the last XFCC element; verify ``Hash`` if present.

    Raises :class:`CertificateHeaderError` naming ``header`` on any malformed value.
    """
    fail: Fail = partial(CertificateHeaderError, header)
    elements = parse_xfcc_elements(value, header=header)
    ders = _leaf_and_chain(elements[-1], fail)
    peer = load_chain(ders, CertificateSource.XFCC, fail)
    expected = elements[-1].get("hash")
    if expected is not None:
        actual = hashlib.sha256(ders[0]).hexdigest()
        if not hmac.compare_digest(
            expected.strip().lower().encode("ascii", "replace"), actual.encode()
        ):
            raise fail("Hash does not match the certificate")
    return peer


def format_xfcc_element(pairs: tuple[tuple[str, str], ...]) -> str:
    """Serialize one element, quoting values as Envoy does (the tokenizer's inverse).

    Raises ``ValueError`` for a malformed key or a value with CR, LF or NUL (header injection).
    """
    for key, value in pairs:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not an XFCC key: {key!r}")
        if any(c in value for c in "\r\n\x00"):
            raise ValueError(f"XFCC value for {key} contains CR, LF or NUL")
    return ";".join(f"{key}={_quote(value)}" for key, value in pairs)


def _quote(value: str) -> str:
    if value and value == value.strip(" \t") and not any(c in value for c in ',;="\\'):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
