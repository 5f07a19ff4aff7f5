"""RFC 9440: the ``Client-Cert`` and ``Client-Cert-Chain`` request header fields.

- §2.2 ``Client-Cert`` is an sf-item (RFC 8941 §3.3) whose value is a Byte Sequence: the DER of
  the end-entity certificate, e.g. ``Client-Cert: :MIIB...:``.
- §2.3 ``Client-Cert-Chain`` is an sf-list of Byte Sequences: the rest of the chain in TLS order
  (the leaf's issuer first), never the leaf itself. It MUST NOT appear without ``Client-Cert``;
  it may be split over several field lines (join them with ``", "`` before parsing).

RFC 9440 defines no parameters; per RFC 8941 §2, unknown parameters on an item are ignored.
Both fields are parsed with ``http_sfv``; nothing here hand-parses structured fields.
"""

from __future__ import annotations

from functools import partial

from cryptography.hazmat.primitives.serialization import Encoding
from http_sfv.item import Item
from http_sfv.list import List as SfList

from certbound.core.mtls.certificate import CertificateSource, PeerCertificate

from ._decode import Fail, load_chain, require_field_size
from .errors import CertificateHeaderError

__all__ = ["CLIENT_CERT", "CLIENT_CERT_CHAIN", "format_rfc9440", "parse_rfc9440"]

CLIENT_CERT = "Client-Cert"
CLIENT_CERT_CHAIN = "Client-Cert-Chain"


def _as_bytes(value: str | bytes, fail: Fail) -> bytes:
    require_field_size(value, fail)
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("ascii")
    except UnicodeEncodeError as exc:
        raise fail("value is not ASCII") from exc


def _parse_leaf(value: str | bytes) -> bytes:
    fail: Fail = partial(CertificateHeaderError, CLIENT_CERT)
    raw = _as_bytes(value, fail)
    item = Item()
    try:
        item.parse(raw)
    except (ValueError, LookupError) as exc:  # http_sfv signals errors with built-in types
        raise fail("not a structured field item", detail=repr(exc)) from exc
    if not isinstance(item.value, bytes):
        raise fail("not a byte sequence")
    return item.value


def _parse_chain(value: str | bytes) -> list[bytes]:
    fail: Fail = partial(CertificateHeaderError, CLIENT_CERT_CHAIN)
    raw = _as_bytes(value, fail)
    if not raw.strip(b" \t"):
        return []  # RFC 8941 §4.2: an empty field value is an empty List
    members = SfList()
    try:
        members.parse(raw)
    except (ValueError, LookupError) as exc:
        raise fail("not a structured field list", detail=repr(exc)) from exc
    ders: list[bytes] = []
    for member in members:
        if not isinstance(member, Item) or not isinstance(member.value, bytes):
            raise fail("list member is not a byte sequence")
        ders.append(member.value)
    return ders


def parse_rfc9440(
    client_cert: str | bytes, client_cert_chain: str | bytes | None = None
) -> PeerCertificate:
    """Read the presented chain (leaf first) from the RFC 9440 field values.

    Raises :class:`CertificateHeaderError` naming the field on any malformed value.
    """
    leaf = _parse_leaf(client_cert)
    chain = _parse_chain(client_cert_chain) if client_cert_chain is not None else []
    fail_leaf: Fail = partial(CertificateHeaderError, CLIENT_CERT)
    fail_chain: Fail = partial(CertificateHeaderError, CLIENT_CERT_CHAIN)
    peer = load_chain([leaf], CertificateSource.RFC9440, fail_leaf)
    if not chain:
        return peer
    return load_chain([leaf, *chain], CertificateSource.RFC9440, fail_chain)


def format_rfc9440(peer: PeerCertificate) -> dict[str, str]:
    """The RFC 9440 field values a proxy would send for ``peer`` (chain only if non-empty)."""
    fields = {CLIENT_CERT: str(Item(peer.leaf.public_bytes(Encoding.DER)))}
    if peer.intermediates:
        chain = SfList()
        for cert in peer.intermediates:
            chain.append(Item(cert.public_bytes(Encoding.DER)))
        fields[CLIENT_CERT_CHAIN] = str(chain)
    return fields
