"""The ASGI TLS extension: the client certificate as certbound's own TLS layer saw it.

ASGI "TLS Extension" (asgiref specs/tls.rst): ``scope["extensions"]["tls"]`` holds
``client_cert_chain``, a list of PEM strings (one certificate each, the client's leaf
first, then the chain it sent), empty when the client sent no certificate; plus
``tls_version`` and ``cipher_suite``, which are not needed here. uvicorn does not set it:
``certbound.server.tls`` adds it (see STACK.md, "Getting the client certificate").
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, TypeGuard

from certbound.core.mtls.certificate import CertificateSource, PeerCertificate

from ._decode import (
    MAX_INTERMEDIATES,
    Fail,
    decode_pem_certificates,
    load_chain,
    require_field_size,
)
from .errors import CertificateSourceError

__all__ = ["TLS_EXTENSION", "chain_key", "peer_from_asgi_scope"]

TLS_EXTENSION = "tls"
_ORIGIN = "TLS client certificate"


def _raw_chain(scope: Mapping[str, Any]) -> Any:
    """The extension's ``client_cert_chain`` value as given, or None when there is none."""
    extensions = scope.get("extensions")
    tls = extensions.get(TLS_EXTENSION) if _is_mapping(extensions) else None
    return tls.get("client_cert_chain") if _is_mapping(tls) else None


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, answering the usual ``dict`` without the ABC check."""
    return type(value) is dict or isinstance(value, Mapping)


def _chain_entries(scope: Mapping[str, Any]) -> list[Any] | None:
    """The raw ``client_cert_chain`` entries, or None when there is no extension or chain."""
    chain = _raw_chain(scope)
    if chain is None:
        return None
    if not isinstance(chain, list | tuple):
        raise CertificateSourceError(_ORIGIN, "client_cert_chain is not a list of PEM strings")
    return list(chain)


def chain_key(scope: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The extension's ``client_cert_chain`` as a hashable key, when it is a non-empty list of
    strings (anything else: None). Equal keys give equal :func:`peer_from_asgi_scope` results."""
    chain = _raw_chain(scope)
    if isinstance(chain, list | tuple) and chain and all(type(c) is str for c in chain):
        return tuple(chain)
    return None


def peer_from_asgi_scope(scope: Mapping[str, Any]) -> PeerCertificate | None:
    """The chain presented in the TLS handshake (source TLS), or None if none was presented.

    Raises :class:`CertificateSourceError` when the extension holds something other than
    PEM certificates (a client certificate the X.509 parser rejects lands here too).
    """
    entries = _chain_entries(scope)
    if not entries:
        return None
    fail: Fail = partial(CertificateSourceError, _ORIGIN)
    if len(entries) > 1 + MAX_INTERMEDIATES:
        raise fail(f"more than {MAX_INTERMEDIATES} chain certificates")
    ders: list[bytes] = []
    for entry in entries:
        if not isinstance(entry, str):
            raise fail("client_cert_chain entry is not a PEM string")
        require_field_size(entry, fail)
        pem = decode_pem_certificates(entry, fail)
        if len(pem) != 1:
            raise fail("client_cert_chain entry holds more than one certificate")
        ders.extend(pem)
    return load_chain(ders, CertificateSource.TLS, fail)
