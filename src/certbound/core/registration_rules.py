"""Validation of client metadata (RFC 7591 §2, RFC 7592 §2.2, RFC 8705 §2.1.2, §2.2).

Every rule failure is :class:`InvalidClientMetadataError` (RFC 7591 §3.2.2) whose description
starts with the offending field's wire name, e.g. ``"grant_types: unknown grant type 'implicit'"``.
JSON ``null`` counts as absent. Decisions beyond the RFCs, each a rule below:

- ``token_endpoint_auth_method`` is required (no silent default) and must be one the server
  accepts; ``none`` (a public client, RFC 8705 §4) and ``private_key_jwt`` (RFC 7523 §2.2) only
  when the server policy lists them.
- ``private_key_jwt`` needs ``jwks`` or ``jwks_uri``; each key in ``jwks`` must be an EC, RSA
  (2048 bits or more) or OKP public signing key. Unlike §2.2 certificates, no ``x5c`` is needed.
- A ``self_signed_tls_client_auth`` certificate may be any leaf (self-issued or not), but never
  ``CA:TRUE``: every registered certificate may end up in a TLS trust store, where a CA could
  vouch for other certificates (RFC 8705 §7, STACK.md "Trap").
- ``refresh_token`` only together with ``authorization_code`` (RFC 6749 §4.4.3: client
  credentials get no refresh token); ``client_credentials`` never for a public client (§4.4).
- No secrets: ``client_secret`` and the other server-assigned members are refused.
- Unknown members are kept verbatim in ``Client.extra`` when they are plain JSON.
- Members named ``certbound_*`` (e.g. ``certbound_introspect_any``, RFC 7662 §4) are the
  operator's grants: only a ``trusted_caller`` (the CLI, the admin API) sets them. Dynamic
  registration (RFC 7591 / RFC 7592) may echo a stored value unchanged and keeps the grants.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn
from urllib.parse import SplitResult, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from certbound.core.client_auth.assertion_keys import rsa_modulus_bits
from certbound.core.clients import (
    SELF_SIGNED_TLS_CLIENT_AUTH,
    SUBJECT_FIELDS,
    TLS_CLIENT_AUTH,
    Client,
)
from certbound.core.errors import InvalidClientMetadataError, InvalidScopeError
from certbound.core.mtls.subject import DistinguishedNameError, normalize_ip, parse_dn
from certbound.core.policy import ServerPolicy
from certbound.core.scopes import parse_scope

__all__ = [
    "GRANT_TYPES",
    "OPERATOR_ONLY_PREFIX",
    "PRIVATE_JWK_MEMBERS",
    "merge_update",
    "validate_client_metadata",
]

GRANT_TYPES: Final = ("client_credentials", "authorization_code", "refresh_token")
# RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2: members only a private (or symmetric) key has.
PRIVATE_JWK_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_SERVER_ASSIGNED: Final = (
    "client_secret",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
    "client_id_issued_at",
)
# Members only the operator sets (admin API, CLI), never a client registering itself.
OPERATOR_ONLY_PREFIX: Final = "certbound_"
_CLIENT_ID: Final = re.compile(r"[A-Za-z0-9._~-]{1,128}")
_DNS_LABEL: Final = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DNS_NAME: Final = re.compile(rf"(?:\*\.)?{_DNS_LABEL}(?:\.{_DNS_LABEL})*")
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+")
_URI_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_RFC7638_MEMBERS: Final = {"EC": ("crv", "x", "y"), "RSA": ("e", "n"), "OKP": ("crv", "x")}
_CLIENT_NAME_MAX: Final = 200
_LIFETIME_RANGE: Final = (30, 86400)
_RSA_MIN_BITS: Final = 2048
PRIVATE_KEY_JWT: Final = "private_key_jwt"
# The methods whose credential is a registered key, and the section that says so.
_NEEDS_KEYS: Final = {
    SELF_SIGNED_TLS_CLIENT_AUTH: "RFC 8705 section 2.2",
    PRIVATE_KEY_JWT: "RFC 7523 section 2.2",
}


def _fail(field: str, why: str) -> NoReturn:
    raise InvalidClientMetadataError(f"{field}: {why}")


# --- typed readers: a wrong JSON type is reported with the field's name ---------------------


def _str(meta: Mapping[str, Any], name: str) -> str | None:
    value = meta.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        _fail(name, "must be a string")
    if not value:
        _fail(name, "must not be empty (omit it instead)")
    return value


def _required_str(meta: Mapping[str, Any], name: str) -> str:
    value = _str(meta, name)
    if value is None:
        _fail(name, "is required")
    return value


def _str_list(meta: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    value = meta.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        _fail(name, "must be a list of non-empty strings")
    return tuple(dict.fromkeys(value))


def _bool(meta: Mapping[str, Any], name: str, default: bool) -> bool:
    value = meta.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        _fail(name, "must be true or false")
    return value


def _https_url(name: str, value: str) -> SplitResult:
    """An absolute https URL with a host, no fragment and no userinfo."""
    if not (value.isascii() and value.isprintable()) or " " in value:
        _fail(name, "is not a valid URL (percent-encode spaces and non-ASCII characters)")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        _fail(name, "is not a valid URL")
    if parts.scheme != "https" or not parts.hostname:
        _fail(name, "must be an absolute https URL")
    if parts.fragment or "#" in value:
        _fail(name, "must not have a fragment")
    if "@" in parts.netloc:
        _fail(name, "must not carry userinfo")
    return parts


# --- RFC 8705 §2.1.2: the tls_client_auth subject fields -----------------------------------


def _subject_dn(name: str, value: str) -> str:
    try:
        parse_dn(value)
    except DistinguishedNameError as exc:
        _fail(name, str(exc))
    return value


def _san_dns(name: str, value: str) -> str:
    if len(value) > 253 or not _DNS_NAME.fullmatch(value):
        _fail(name, "is not a DNS name (LDH labels, A-labels for IDNs, no trailing dot)")
    return value.lower()


def _san_uri(name: str, value: str) -> str:
    """An IA5String absolute URI (RFC 5280 §4.2.1.6, RFC 3986 §4.3): ASCII, no spaces."""
    scheme, colon, rest = value.partition(":")
    printable = value.isascii() and value.isprintable() and " " not in value
    if not (colon and rest and printable and _URI_SCHEME.fullmatch(scheme)):
        _fail(name, "is not an absolute URI (RFC 3986 section 4.3)")
    return value


def _san_ip(name: str, value: str) -> str:
    try:
        return normalize_ip(value)
    except ValueError:
        _fail(name, "is not an IPv4 or IPv6 address")


def _san_email(name: str, value: str) -> str:
    if not _EMAIL.fullmatch(value):
        _fail(name, "is not an email address (local-part@domain)")
    return value


_SUBJECT_CHECKS: Final[dict[str, Callable[[str, str], str]]] = {
    "tls_client_auth_subject_dn": _subject_dn,
    "tls_client_auth_san_dns": _san_dns,
    "tls_client_auth_san_uri": _san_uri,
    "tls_client_auth_san_ip": _san_ip,
    "tls_client_auth_san_email": _san_email,
}


def _subject_fields(meta: Mapping[str, Any], method: str) -> dict[str, str]:
    present = [f for f in SUBJECT_FIELDS if meta.get(f) is not None]
    if method != TLS_CLIENT_AUTH:
        if present:
            _fail(present[0], f"is only used with tls_client_auth, not {method}")
        return {}
    if not present:
        _fail(
            "token_endpoint_auth_method",
            f"tls_client_auth needs one of {', '.join(SUBJECT_FIELDS)} (RFC 8705 section 2.1.2)",
        )
    if len(present) > 1:
        _fail(present[1], f"conflicts with {present[0]}: tls_client_auth takes exactly one")
    field = present[0]
    return {field: _SUBJECT_CHECKS[field](field, _required_str(meta, field))}


# --- RFC 8705 §2.2 / RFC 7591 §2: jwks and jwks_uri ----------------------------------------


def _certificate_jwk(where: str, cert: x509.Certificate) -> dict[str, Any]:
    """The RFC 7638 members of the certificate's public key, as a JWK."""
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if key.key_size < _RSA_MIN_BITS:
                _fail("jwks", f"{where} has an RSA key of {key.key_size} bits (minimum 2048)")
            return dict(RSAKey.import_key(key).as_dict())
        if isinstance(key, ec.EllipticCurvePublicKey):
            return dict(ECKey.import_key(key).as_dict())
        if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            return dict(OKPKey.import_key(key).as_dict())
    except (ValueError, LookupError, JoseError):  # e.g. a curve JOSE has no name for
        pass
    _fail("jwks", f"{where} has an unsupported public key type")


def _x5c_leaf(where: str, jwk: Mapping[str, Any]) -> x509.Certificate:
    chain = jwk.get("x5c")
    if not isinstance(chain, list) or not chain or not all(isinstance(c, str) for c in chain):
        _fail("jwks", f"{where} needs x5c, a list of certificates (RFC 8705 section 2.2)")
    try:
        der = [base64.b64decode(c, validate=True) for c in chain]
    except binascii.Error:
        _fail(
            "jwks", f"{where}.x5c holds a value that is not standard base64 (RFC 7517 section 4.7)"
        )
    try:
        return x509.load_der_x509_certificate(der[0])
    except ValueError:
        _fail("jwks", f"{where}.x5c[0] is not a DER X.509 certificate")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _check_x5c(where: str, jwk: Mapping[str, Any], now: int) -> None:
    """RFC 8705 §2.2: the certificate in x5c, usable and matching the JWK's own key."""
    cert = _x5c_leaf(where, jwk)
    try:
        is_ca = _is_ca(cert)
    except ValueError:
        _fail("jwks", f"{where}.x5c[0] has malformed extensions")
    if is_ca:
        _fail(
            "jwks",
            f"{where}.x5c[0] is a CA certificate (CA:TRUE); a registered certificate may end up in"
            " the TLS trust store, where a CA could vouch for certificates of any subject",
        )
    if cert.not_valid_after_utc.timestamp() <= now:
        _fail("jwks", f"{where}.x5c[0] has expired")
    expected = _certificate_jwk(where, cert)
    members = ("kty", *_RFC7638_MEMBERS[expected["kty"]])
    if any(jwk.get(m) != expected[m] for m in members):
        _fail(
            "jwks",
            f"{where} is not the public key of its x5c[0] certificate (RFC 7517 section 4.7)",
        )


def _check_signing_jwk(where: str, jwk: Mapping[str, Any]) -> None:
    """RFC 7523 §3 item 9: a public key that can verify the client's assertions."""
    if jwk.get("kty") not in _RFC7638_MEMBERS:
        _fail("jwks", f"{where} must be an EC, RSA or OKP public key")
    if jwk.get("use", "sig") != "sig":
        _fail("jwks", f"{where} has use {jwk.get('use')!r}; client assertions need 'sig'")
    bits = rsa_modulus_bits(jwk)
    if jwk["kty"] == "RSA" and 0 < bits < _RSA_MIN_BITS:
        _fail("jwks", f"{where} has an RSA key of {bits} bits (minimum 2048)")
    try:
        JWKRegistry.import_key(dict(jwk))
    except (JoseError, ValueError, TypeError, KeyError):
        _fail("jwks", f"{where} is not a valid JWK")


def _jwks(value: Any, *, method: str, now: int) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        _fail("jwks", "must be a JWK Set object")
    keys = value.get("keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, Mapping) for k in keys):
        _fail("jwks", "needs a non-empty 'keys' list of JWK objects")
    for index, jwk in enumerate(keys):
        where = f"keys[{index}]"
        if not isinstance(jwk.get("kty"), str):
            _fail("jwks", f"{where} has no kty")
        if PRIVATE_JWK_MEMBERS.intersection(jwk):
            _fail("jwks", f"{where} contains private key material")
        if method == SELF_SIGNED_TLS_CLIENT_AUTH:
            _check_x5c(where, jwk, now)
        elif method == PRIVATE_KEY_JWT:
            _check_signing_jwk(where, jwk)
    copied: dict[str, Any] = _plain_json("jwks", value)
    return copied


def _is_private_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        return False  # a DNS name: what it resolves to is the fetcher's check


def _jwks_uri(value: str, policy: ServerPolicy) -> str:
    parts = _https_url("jwks_uri", value)
    if not policy.allow_jwks_uri_private and _is_private_host(parts.hostname or ""):
        _fail("jwks_uri", "must not point to a loopback, private or link-local address")
    return value


def _key_fields(
    meta: Mapping[str, Any], method: str, policy: ServerPolicy, now: int
) -> tuple[dict[str, Any] | None, str | None]:
    jwks, uri = meta.get("jwks"), _str(meta, "jwks_uri")
    if jwks is not None and uri is not None:
        _fail("jwks", "jwks and jwks_uri must not both be present (RFC 7591 section 2)")
    if jwks is None and uri is None and method in _NEEDS_KEYS:
        _fail("jwks", f"{method} needs jwks or jwks_uri ({_NEEDS_KEYS[method]})")
    return (
        None if jwks is None else _jwks(jwks, method=method, now=now),
        None if uri is None else _jwks_uri(uri, policy),
    )


# --- RFC 7591 §2, §2.1: method, grant types, response types, redirect URIs -----------------


def _auth_method(meta: Mapping[str, Any], policy: ServerPolicy) -> str:
    method = _required_str(meta, "token_endpoint_auth_method")
    if method not in policy.client_auth_methods:
        _fail(
            "token_endpoint_auth_method",
            f"'{method}' is not accepted here; use one of {', '.join(policy.client_auth_methods)}",
        )
    return method


def _grant_types(meta: Mapping[str, Any], method: str) -> tuple[str, ...]:
    grants = _str_list(meta, "grant_types")
    if grants is None:
        grants = ("client_credentials",)
    if not grants:
        _fail("grant_types", "must not be empty")
    unknown = [g for g in grants if g not in GRANT_TYPES]
    if unknown:
        _fail("grant_types", f"unsupported grant type(s) {', '.join(unknown)}")
    if "refresh_token" in grants and "authorization_code" not in grants:
        _fail("grant_types", "refresh_token is only issued with authorization_code")
    if method == "none" and "client_credentials" in grants:
        _fail(
            "grant_types", "client_credentials needs client authentication (RFC 6749 section 4.4)"
        )
    return grants


def _response_types(meta: Mapping[str, Any], grants: tuple[str, ...]) -> tuple[str, ...]:
    code_flow = "authorization_code" in grants
    types = _str_list(meta, "response_types")
    if types is None:
        return ("code",) if code_flow else ()
    unknown = [t for t in types if t != "code"]
    if unknown:
        _fail("response_types", f"unsupported response type(s) {', '.join(unknown)}")
    if ("code" in types) != code_flow:
        _fail(
            "response_types", "code goes with grant type authorization_code (RFC 7591 section 2.1)"
        )
    return types


def _redirect_uris(meta: Mapping[str, Any], grants: tuple[str, ...]) -> tuple[str, ...]:
    uris = _str_list(meta, "redirect_uris") or ()
    code_flow = "authorization_code" in grants
    if code_flow and not uris:
        _fail("redirect_uris", "required with the authorization_code grant")
    if uris and not code_flow:
        _fail("redirect_uris", "only used with the authorization_code grant")
    for uri in uris:
        _https_url("redirect_uris", uri)
    return uris


# --- the remaining fields -----------------------------------------------------------------


def _scope(meta: Mapping[str, Any], policy: ServerPolicy) -> tuple[str, ...]:
    try:
        scopes = parse_scope(_str(meta, "scope"))
    except InvalidScopeError as exc:
        _fail("scope", exc.description or "invalid scope")
    unsupported = [
        s for s in scopes if policy.scopes_supported and s not in policy.scopes_supported
    ]
    if unsupported:
        _fail("scope", f"not supported by this server: {' '.join(unsupported[:5])}")
    return scopes


def _client_name(meta: Mapping[str, Any]) -> str | None:
    name = _str(meta, "client_name")
    if name is not None and len(name) > _CLIENT_NAME_MAX:
        _fail("client_name", f"longer than {_CLIENT_NAME_MAX} characters")
    return name


def _bound_tokens(meta: Mapping[str, Any], policy: ServerPolicy) -> bool:
    bound = _bool(meta, "tls_client_certificate_bound_access_tokens", True)
    if not bound and policy.require_bound_tokens:
        _fail(
            "tls_client_certificate_bound_access_tokens",
            "this server issues only certificate-bound access tokens (RFC 8705 section 3)",
        )
    return bound


def _lifetime(meta: Mapping[str, Any]) -> int | None:
    value = meta.get("access_token_lifetime")
    if value is None:
        return None
    low, high = _LIFETIME_RANGE
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        _fail("access_token_lifetime", f"must be an integer number of seconds, {low} to {high}")
    return value


def _plain_json(name: str, value: Any) -> Any:
    """A deep copy of ``value`` through JSON: refuses anything JSON cannot carry."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        _fail(name, "is not plain JSON")


_MODELLED: Final = frozenset(Client.__dataclass_fields__) - {"extra"}


def _extra(meta: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain_json(k, v) for k, v in meta.items() if k not in _MODELLED and v is not None}


def _as_object(raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        _fail("client metadata", "must be a JSON object")
    if not all(isinstance(k, str) for k in raw):
        _fail("client metadata", "member names must be strings")
    return raw


def _check_client_id(client_id: str) -> str:
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        _fail("client_id", "must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -")
    return client_id


def _operator_grants(
    meta: Mapping[str, Any], existing: Client | None, *, trusted_caller: bool
) -> dict[str, Any]:
    """The ``certbound_*`` members to keep from ``existing``; refuse an untrusted caller's own.

    The one place that decides who may set operator-only metadata: a trusted caller (CLI, admin
    API) sets them like any member; an untrusted one (dynamic registration) may only repeat the
    stored value, and the stored grants are carried over whatever it sends.
    """
    if trusted_caller:
        return {}
    stored = existing.extra if existing is not None else {}
    kept = {k: v for k, v in stored.items() if k.startswith(OPERATOR_ONLY_PREFIX)}
    for name, value in meta.items():
        if name.startswith(OPERATOR_ONLY_PREFIX) and value is not None and kept.get(name) != value:
            _fail(name, "is set by the server's operator (admin API or CLI), not by registration")
    return kept


def _build(
    meta: Mapping[str, Any],
    client_id: str,
    *,
    now: int,
    issued_at: int,
    policy: ServerPolicy,
    operator_grants: Mapping[str, Any],
) -> Client:
    method = _auth_method(meta, policy)
    grants = _grant_types(meta, method)
    jwks, jwks_uri = _key_fields(meta, method, policy, now)
    return Client(
        client_id=_check_client_id(client_id),
        token_endpoint_auth_method=method,
        grant_types=grants,
        response_types=_response_types(meta, grants),
        redirect_uris=_redirect_uris(meta, grants),
        scope=_scope(meta, policy),
        client_name=_client_name(meta),
        jwks=jwks,
        jwks_uri=jwks_uri,
        tls_client_certificate_bound_access_tokens=_bound_tokens(meta, policy),
        access_token_lifetime=_lifetime(meta),
        client_id_issued_at=issued_at,
        extra={**_extra(meta), **operator_grants},
        **_subject_fields(meta, method),
    )


def _refuse_server_assigned(meta: Mapping[str, Any], *, issued_at: int | None) -> None:
    """RFC 7591 §3.2.1 / RFC 7592 §2.2: members only the server sets (and no secrets at all)."""
    for name in _SERVER_ASSIGNED:
        value = meta.get(name)
        if value is None or (name == "client_id_issued_at" and value == issued_at):
            continue
        why = "certbound issues no client secrets" if "secret" in name else "is set by the server"
        _fail(name, why)


def validate_client_metadata(
    raw: Mapping[str, Any],
    *,
    client_id: str | None,
    now: int,
    policy: ServerPolicy,
    generate_id: Callable[[], str],
    trusted_caller: bool = True,
) -> Client:
    """A new :class:`Client` from registration metadata (RFC 7591 §2), issued at ``now``.

    ``client_id`` is the operator's choice (CLI/admin) or None to use ``generate_id()``; a
    ``client_id`` member in ``raw`` is accepted only when it repeats the operator's choice.
    ``trusted_caller``: False for self-service registration (RFC 7591), which may not set
    operator-only (``certbound_*``) members.
    """
    meta = _as_object(raw)
    kept = _operator_grants(meta, None, trusted_caller=trusted_caller)
    _refuse_server_assigned(meta, issued_at=None)
    requested = meta.get("client_id")
    if requested is not None and requested != client_id:
        _fail("client_id", "is assigned by the server")
    return _build(
        meta,
        generate_id() if client_id is None else client_id,
        now=now,
        issued_at=now,
        policy=policy,
        operator_grants=kept,
    )


def merge_update(
    existing: Client,
    raw: Mapping[str, Any],
    *,
    now: int,
    policy: ServerPolicy,
    trusted_caller: bool = True,
) -> Client:
    """RFC 7592 §2.2 full replacement of ``existing``'s metadata by ``raw``.

    Omitted fields take their defaults (they are not carried over), except that for an
    untrusted caller (``trusted_caller=False``: the client itself, RFC 7592) the operator's
    ``certbound_*`` grants are kept. ``client_id``, if sent, must be the client's own;
    ``client_id_issued_at`` is kept (and may be echoed unchanged).
    """
    meta = _as_object(raw)
    kept = _operator_grants(meta, existing, trusted_caller=trusted_caller)
    _refuse_server_assigned(meta, issued_at=existing.client_id_issued_at)
    requested = meta.get("client_id")
    if requested is not None and requested != existing.client_id:
        _fail("client_id", "does not match the client being updated (RFC 7592 section 2.2)")
    return _build(
        meta,
        existing.client_id,
        now=now,
        issued_at=existing.client_id_issued_at,
        policy=policy,
        operator_grants=kept,
    )
