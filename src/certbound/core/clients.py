"""A registered client: RFC 7591 client metadata plus the RFC 8705 fields.

This module holds the value type and its lossless (de)serialisation. Validation of incoming
metadata (``invalid_client_metadata``) lives in :mod:`certbound.core.registration_rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "SAN_FIELDS",
    "SELF_SIGNED_TLS_CLIENT_AUTH",
    "SUBJECT_FIELDS",
    "TLS_CLIENT_AUTH",
    "Client",
]

TLS_CLIENT_AUTH = "tls_client_auth"
SELF_SIGNED_TLS_CLIENT_AUTH = "self_signed_tls_client_auth"

SAN_FIELDS = (
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
)
# RFC 8705 §2.1.2: exactly one of these identifies a tls_client_auth client's certificate.
SUBJECT_FIELDS = ("tls_client_auth_subject_dn", *SAN_FIELDS)


@dataclass(frozen=True, slots=True)
class Client:
    """A registered OAuth client. Field names are the RFC 7591 / RFC 8705 wire names."""

    client_id: str
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...] = ("client_credentials",)
    response_types: tuple[str, ...] = ()
    redirect_uris: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()  # the scopes this client may request (empty: none)
    client_name: str | None = None
    tls_client_auth_subject_dn: str | None = None
    tls_client_auth_san_dns: str | None = None
    tls_client_auth_san_uri: str | None = None
    tls_client_auth_san_ip: str | None = None
    tls_client_auth_san_email: str | None = None
    jwks: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    tls_client_certificate_bound_access_tokens: bool = True
    access_token_lifetime: int | None = None  # seconds; None: the server default
    client_id_issued_at: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)  # other metadata, kept verbatim

    def to_metadata(self) -> dict[str, Any]:
        """RFC 7591 §3.2.1 shape: every set field by its wire name, ``scope`` space-separated."""
        out: dict[str, Any] = dict(self.extra)
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "scope":
                if value:
                    out["scope"] = " ".join(value)
                continue
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Client:
        """Rebuild a stored (already validated) client from :meth:`to_metadata` output."""
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in metadata.items():
            if key not in known:
                extra[key] = value
            elif key == "scope":
                kwargs["scope"] = tuple(str(value).split())
            elif isinstance(value, list):
                kwargs[key] = tuple(value)
            else:
                kwargs[key] = value
        return cls(**kwargs, extra=extra)
