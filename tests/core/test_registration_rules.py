"""core.registration_rules: RFC 7591 / RFC 7592 / RFC 8705 client metadata validation.

The refusal table has one row per rule; each row's id names the rule, and the description must
start with the offending field's name.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID
from joserfc.jwk import ECKey, OKPKey, RSAKey

from certbound.core.clients import Client
from certbound.core.errors import InvalidClientMetadataError
from certbound.core.policy import ServerPolicy
from certbound.core.registration_rules import merge_update, validate_client_metadata
from testpki import NOW, make_leaf, name

ISSUED_AT = 1_800_000_000
POLICY = ServerPolicy(issuer="https://as.example.com", mtls_base_url=None)
PUBLIC_POLICY = ServerPolicy(
    issuer="https://as.example.com",
    mtls_base_url=None,
    client_auth_methods=("tls_client_auth", "none"),
)
_NOW = int(NOW.timestamp())

SELF_SIGNED = make_leaf(None, "self-signed-client")
CA_TRAP = make_leaf(None, "self-signed-ca", ca=True)
EXPIRED = make_leaf(
    None, "old", not_before=NOW - dt.timedelta(days=9), not_after=NOW - dt.timedelta(days=1)
)


def _b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode()


def _jwk(cert: x509.Certificate, key_of: x509.Certificate | None = None) -> dict[str, Any]:
    """The certificate as an RFC 8705 §2.2 JWK (``key_of``: take the key from another cert)."""
    public = (key_of or cert).public_key()
    if isinstance(public, rsa.RSAPublicKey):
        members = RSAKey.import_key(public).as_dict()
    elif isinstance(public, ed25519.Ed25519PublicKey):
        members = OKPKey.import_key(public).as_dict()
    else:
        members = ECKey.import_key(public).as_dict()  # type: ignore[arg-type]
    return {**members, "x5c": [_b64(cert)]}


def _custom_cert(public_key: Any, extension: x509.ExtensionType | None = None) -> x509.Certificate:
    signer = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name("odd"))
        .issuer_name(name("odd"))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
    )
    if extension is not None:
        builder = builder.add_extension(extension, critical=True)
    return builder.sign(signer, hashes.SHA256())


def _rsa_1024_cert() -> x509.Certificate:
    return _custom_cert(rsa.generate_private_key(65537, 1024).public_key())  # noqa: S505 (the refused key under test)


def _dsa_cert() -> x509.Certificate:
    return _custom_cert(dsa.generate_private_key(1024).public_key())  # noqa: S505 (the refused key type under test)


def _p224_cert() -> x509.Certificate:
    return _custom_cert(ec.generate_private_key(ec.SECP224R1()).public_key())


def _bad_extension_cert() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return _custom_cert(
        key, x509.UnrecognizedExtension(ExtensionOID.BASIC_CONSTRAINTS, b"\x05\x00")
    )


TLS = {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "c1.example"}
SELF = {
    "token_endpoint_auth_method": "self_signed_tls_client_auth",
    "jwks": {"keys": [_jwk(SELF_SIGNED.cert)]},
}
CODE = {
    **TLS,
    "grant_types": ["authorization_code", "refresh_token"],
    "redirect_uris": ["https://app.example.com/cb"],
}
DROP = object()  # marks a key to remove from the base metadata


def _meta(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    merged = {**base, **changes}
    return {k: v for k, v in merged.items() if v is not DROP}


def _validate(raw: Any, *, policy: ServerPolicy = POLICY, client_id: str | None = None) -> Client:
    return validate_client_metadata(
        raw, client_id=client_id, now=_NOW, policy=policy, generate_id=lambda: "generated-1"
    )


# --- what is accepted ---------------------------------------------------------------------------


def test_minimal_tls_client_auth_client_gets_secure_defaults() -> None:
    client = _validate(TLS)
    assert client == Client(
        client_id="generated-1",
        token_endpoint_auth_method="tls_client_auth",
        grant_types=("client_credentials",),
        tls_client_auth_san_dns="c1.example",
        tls_client_certificate_bound_access_tokens=True,
        client_id_issued_at=_NOW,
    )


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        (
            "tls_client_auth_subject_dn",
            "CN=client-1,O=certbound tests",
            "CN=client-1,O=certbound tests",
        ),
        ("tls_client_auth_san_dns", "Client-1.Example.COM", "client-1.example.com"),
        ("tls_client_auth_san_dns", "*.example.com", "*.example.com"),
        (
            "tls_client_auth_san_uri",
            "spiffe://example.org/ns/a/sa/b",
            "spiffe://example.org/ns/a/sa/b",
        ),
        ("tls_client_auth_san_ip", "2001:db8:0:0::1", "2001:db8::1"),
        ("tls_client_auth_san_ip", "192.0.2.7", "192.0.2.7"),
        ("tls_client_auth_san_email", "ops@example.com", "ops@example.com"),
    ],
)
def test_each_tls_client_auth_subject_field_is_accepted_and_normalised(
    field: str, value: str, stored: str
) -> None:
    client = _validate({"token_endpoint_auth_method": "tls_client_auth", field: value})
    assert getattr(client, field) == stored


def test_self_signed_client_with_jwks_keeps_a_plain_copy() -> None:
    client = _validate(SELF)
    assert client.jwks == SELF["jwks"]
    assert client.jwks is not SELF["jwks"]
    assert client.tls_client_auth_san_dns is None


@pytest.mark.parametrize(
    "make_key",
    [
        pytest.param(lambda: rsa.generate_private_key(65537, 2048), id="rsa-2048"),
        pytest.param(ed25519.Ed25519PrivateKey.generate, id="ed25519"),
    ],
)
def test_self_signed_client_may_register_any_ca_false_leaf(make_key: Callable[[], Any]) -> None:
    """Not only self-issued certificates: any leaf (here: no basicConstraints, another issuer)."""
    cert = _custom_cert(make_key().public_key())
    raw = _meta(SELF, jwks={"keys": [_jwk(cert)]})
    assert _validate(raw).jwks == {"keys": [_jwk(cert)]}


def test_self_signed_client_with_jwks_uri() -> None:
    raw = {
        "token_endpoint_auth_method": "self_signed_tls_client_auth",
        "jwks_uri": "https://c.example/jwks",
    }
    assert _validate(raw).jwks_uri == "https://c.example/jwks"


def test_jwks_uri_on_a_private_address_is_allowed_when_the_policy_says_so() -> None:
    policy = ServerPolicy(issuer="https://as", mtls_base_url=None, allow_jwks_uri_private=True)
    raw = {
        "token_endpoint_auth_method": "self_signed_tls_client_auth",
        "jwks_uri": "https://127.0.0.1:9/j",
    }
    assert _validate(raw, policy=policy).jwks_uri == "https://127.0.0.1:9/j"


def test_a_tls_client_auth_client_may_register_jwks_without_x5c() -> None:
    key = ECKey.generate_key("P-256").as_dict(private=False)
    assert _validate(_meta(TLS, jwks={"keys": [key]})).jwks == {"keys": [key]}


def test_authorization_code_client_defaults_response_types_to_code() -> None:
    client = _validate(CODE)
    assert client.grant_types == ("authorization_code", "refresh_token")
    assert client.response_types == ("code",)
    assert client.redirect_uris == ("https://app.example.com/cb",)


def test_public_client_is_accepted_when_the_policy_lists_none() -> None:
    raw = _meta(CODE, token_endpoint_auth_method="none", tls_client_auth_san_dns=DROP)
    assert _validate(raw, policy=PUBLIC_POLICY).token_endpoint_auth_method == "none"


def test_optional_fields_are_stored() -> None:
    client = _validate(
        _meta(TLS, scope="read write read", client_name="Billing", access_token_lifetime=120)
    )
    assert (client.scope, client.client_name, client.access_token_lifetime) == (
        ("read", "write"),
        "Billing",
        120,
    )


def test_unbound_tokens_may_be_asked_for_when_the_policy_allows_them() -> None:
    policy = ServerPolicy(issuer="https://as", mtls_base_url=None, require_bound_tokens=False)
    raw = _meta(TLS, tls_client_certificate_bound_access_tokens=False)
    assert _validate(raw, policy=policy).tls_client_certificate_bound_access_tokens is False


def test_unknown_plain_json_members_are_kept_in_extra_and_null_counts_as_absent() -> None:
    client = _validate(_meta(TLS, contacts=["ops@example.com"], client_name=None, tos_uri=None))
    assert client.extra == {"contacts": ["ops@example.com"]}
    assert client.client_name is None


def test_operator_chosen_client_id_is_used_and_may_be_repeated_in_the_metadata() -> None:
    assert (
        _validate(_meta(TLS, client_id="billing-01"), client_id="billing-01").client_id
        == "billing-01"
    )


def test_stored_metadata_validates_back_to_the_same_client() -> None:
    client = _validate(_meta(CODE, scope="a b", client_name="n", contacts=["x@y"]))
    again = merge_update(client, client.to_metadata(), now=_NOW, policy=POLICY)
    assert again == client


def test_merge_update_replaces_metadata_and_keeps_identity() -> None:
    client = _validate(_meta(TLS, scope="read", client_name="old"))
    updated = merge_update(
        client, _meta(SELF, client_id=client.client_id), now=_NOW + 50, policy=POLICY
    )
    assert updated.client_id == client.client_id
    assert updated.client_id_issued_at == _NOW
    assert updated.token_endpoint_auth_method == "self_signed_tls_client_auth"
    assert (updated.scope, updated.client_name, updated.tls_client_auth_san_dns) == ((), None, None)


def test_merge_update_refuses_another_client_id() -> None:
    with pytest.raises(InvalidClientMetadataError) as caught:
        merge_update(_validate(TLS), _meta(TLS, client_id="other"), now=_NOW, policy=POLICY)
    assert caught.value.description == (
        "client_id: does not match the client being updated (RFC 7592 section 2.2)"
    )


def test_merge_update_refuses_a_changed_client_id_issued_at() -> None:
    with pytest.raises(InvalidClientMetadataError) as caught:
        merge_update(_validate(TLS), _meta(TLS, client_id_issued_at=1), now=_NOW, policy=POLICY)
    assert caught.value.description == "client_id_issued_at: is set by the server"


# --- one row per rule -----------------------------------------------------------------------------


def _rule(
    rule: str,
    raw: Any,
    description: str,
    *,
    policy: ServerPolicy = POLICY,
    client_id: str | None = None,
) -> Any:
    return pytest.param(raw, policy, client_id, description, id=rule)


def _keys(*jwks: dict[str, Any]) -> dict[str, Any]:
    return _meta(SELF, jwks={"keys": list(jwks)})


def _x5c(*values: str) -> dict[str, Any]:
    return _keys({**_jwk(SELF_SIGNED.cert), "x5c": list(values)})


SELF_URI = {"token_endpoint_auth_method": "self_signed_tls_client_auth"}
RULES = [
    _rule("metadata-is-an-object", ["x"], "client metadata: must be a JSON object"),
    _rule("member-names-are-strings", {1: "x"}, "client metadata: member names must be strings"),
    _rule("method-required", _meta(TLS, token_endpoint_auth_method=DROP), "token_endpoint_auth_method: is required"),
    _rule("method-is-a-string", _meta(TLS, token_endpoint_auth_method=5), "token_endpoint_auth_method: must be a string"),
    _rule("empty-string-is-refused", _meta(TLS, token_endpoint_auth_method=""), "token_endpoint_auth_method: must not be empty"),
    _rule("method-in-policy", _meta(TLS, token_endpoint_auth_method="client_secret_basic"), "token_endpoint_auth_method: 'client_secret_basic' is not accepted here"),
    _rule("none-only-if-policy-lists-it", _meta(TLS, token_endpoint_auth_method="none"), "token_endpoint_auth_method: 'none' is not accepted here"),
    _rule("tls-needs-a-subject-field", {"token_endpoint_auth_method": "tls_client_auth"}, "token_endpoint_auth_method: tls_client_auth needs one of tls_client_auth_subject_dn"),
    _rule("tls-takes-exactly-one-subject-field", _meta(TLS, tls_client_auth_subject_dn="CN=a"), "tls_client_auth_san_dns: conflicts with tls_client_auth_subject_dn"),
    _rule("subject-field-is-a-string", _meta(TLS, tls_client_auth_san_dns=["a"]), "tls_client_auth_san_dns: must be a string"),
    _rule("subject-dn-parses", _meta(TLS, tls_client_auth_san_dns=DROP, tls_client_auth_subject_dn="no dn"), "tls_client_auth_subject_dn: not an RFC 4514 distinguished name"),
    _rule("san-dns-is-a-dns-name", _meta(TLS, tls_client_auth_san_dns="-bad-.example"), "tls_client_auth_san_dns: is not a DNS name"),
    _rule("san-dns-length", _meta(TLS, tls_client_auth_san_dns=".".join(["a" * 63] * 5)), "tls_client_auth_san_dns: is not a DNS name"),
    _rule("san-uri-is-absolute", _meta(TLS, tls_client_auth_san_dns=DROP, tls_client_auth_san_uri="/relative"), "tls_client_auth_san_uri: is not an absolute URI"),
    _rule("san-uri-has-no-space", _meta(TLS, tls_client_auth_san_dns=DROP, tls_client_auth_san_uri="urn:a b"), "tls_client_auth_san_uri: is not an absolute URI"),
    _rule("san-ip-is-an-address", _meta(TLS, tls_client_auth_san_dns=DROP, tls_client_auth_san_ip="999.1.1.1"), "tls_client_auth_san_ip: is not an IPv4 or IPv6 address"),
    _rule("san-email-has-at", _meta(TLS, tls_client_auth_san_dns=DROP, tls_client_auth_san_email="nobody"), "tls_client_auth_san_email: is not an email address"),
    _rule("subject-fields-refused-for-self-signed", _meta(SELF, tls_client_auth_san_dns="c.example"), "tls_client_auth_san_dns: is only used with tls_client_auth, not self_signed_tls_client_auth"),
    _rule("self-signed-needs-keys", SELF_URI, "jwks: self_signed_tls_client_auth needs jwks or jwks_uri (RFC 8705 section 2.2)"),
    _rule("jwks-and-jwks-uri-exclusive", _meta(SELF, jwks_uri="https://c.example/jwks"), "jwks: jwks and jwks_uri must not both be present (RFC 7591 section 2)"),
    _rule("jwks-is-an-object", _meta(SELF, jwks="x"), "jwks: must be a JWK Set object"),
    _rule("jwks-has-keys", _meta(SELF, jwks={"keys": []}), "jwks: needs a non-empty 'keys' list of JWK objects"),
    _rule("jwk-has-kty", _keys({"x5c": [_b64(SELF_SIGNED.cert)]}), "jwks: keys[0] has no kty"),
    _rule("jwk-is-public", _keys({**_jwk(SELF_SIGNED.cert), "d": "AAAA"}), "jwks: keys[0] contains private key material"),
    _rule("jwk-has-x5c", _keys(ECKey.generate_key("P-256").as_dict(private=False)), "jwks: keys[0] needs x5c, a list of certificates (RFC 8705 section 2.2)"),
    _rule("x5c-is-standard-base64", _x5c(_b64(SELF_SIGNED.cert).replace("A", "-", 1)), "jwks: keys[0].x5c holds a value that is not standard base64"),
    _rule("x5c-is-a-certificate", _x5c(base64.b64encode(b"hello").decode()), "jwks: keys[0].x5c[0] is not a DER X.509 certificate"),
    _rule("x5c-extensions-parse", _keys(_jwk(_bad_extension_cert())), "jwks: keys[0].x5c[0] has malformed extensions"),
    _rule("x5c-is-not-a-ca", _keys(_jwk(CA_TRAP.cert)), "jwks: keys[0].x5c[0] is a CA certificate (CA:TRUE); a registered certificate may end up in the TLS trust store"),
    _rule("x5c-is-not-expired", _keys(_jwk(EXPIRED.cert)), "jwks: keys[0].x5c[0] has expired"),
    _rule("x5c-rsa-at-least-2048", _keys({"kty": "RSA", "x5c": [_b64(_rsa_1024_cert())]}), "jwks: keys[0] has an RSA key of 1024 bits (minimum 2048)"),
    _rule("x5c-key-type-supported", _keys({"kty": "DSA", "x5c": [_b64(_dsa_cert())]}), "jwks: keys[0] has an unsupported public key type"),
    _rule("x5c-curve-has-a-jose-name", _keys({"kty": "EC", "x5c": [_b64(_p224_cert())]}), "jwks: keys[0] has an unsupported public key type"),
    _rule("jwk-is-the-x5c-key", _keys(_jwk(SELF_SIGNED.cert, key_of=CA_TRAP.cert)), "jwks: keys[0] is not the public key of its x5c[0] certificate"),
    _rule("jwks-uri-is-a-string", _meta(SELF_URI, jwks_uri=["https://c"]), "jwks_uri: must be a string"),
    _rule("jwks-uri-is-https", _meta(SELF_URI, jwks_uri="http://c.example/jwks"), "jwks_uri: must be an absolute https URL"),
    _rule("jwks-uri-is-a-url", _meta(SELF_URI, jwks_uri="https://c.example:99999/"), "jwks_uri: is not a valid URL"),
    _rule("jwks-uri-is-plain-ascii", _meta(SELF_URI, jwks_uri="https://c.example/a\nb"), "jwks_uri: is not a valid URL (percent-encode"),
    _rule("redirect-uri-has-no-space", _meta(CODE, redirect_uris=["https://app.example/c b"]), "redirect_uris: is not a valid URL (percent-encode"),
    _rule("jwks-uri-has-no-fragment", _meta(SELF_URI, jwks_uri="https://c.example/j#k"), "jwks_uri: must not have a fragment"),
    _rule("jwks-uri-has-no-userinfo", _meta(SELF_URI, jwks_uri="https://u:p@c.example/j"), "jwks_uri: must not carry userinfo"),
    _rule("jwks-uri-not-loopback", _meta(SELF_URI, jwks_uri="https://127.0.0.1/j"), "jwks_uri: must not point to a loopback, private or link-local address"),
    _rule("jwks-uri-not-localhost", _meta(SELF_URI, jwks_uri="https://api.localhost/j"), "jwks_uri: must not point to a loopback, private or link-local address"),
    _rule("jwks-uri-not-private", _meta(SELF_URI, jwks_uri="https://[fd00::1]/j"), "jwks_uri: must not point to a loopback, private or link-local address"),
    _rule("grant-types-is-a-list", _meta(TLS, grant_types="client_credentials"), "grant_types: must be a list of non-empty strings"),
    _rule("grant-types-not-empty", _meta(TLS, grant_types=[]), "grant_types: must not be empty"),
    _rule("grant-types-known", _meta(TLS, grant_types=["implicit", "password"]), "grant_types: unsupported grant type(s) implicit, password"),
    _rule("refresh-token-needs-code", _meta(TLS, grant_types=["client_credentials", "refresh_token"]), "grant_types: refresh_token is only issued with authorization_code"),
    _rule("public-client-no-client-credentials", {"token_endpoint_auth_method": "none"}, "grant_types: client_credentials needs client authentication (RFC 6749 section 4.4)", policy=PUBLIC_POLICY),
    _rule("response-types-known", _meta(CODE, response_types=["code", "token"]), "response_types: unsupported response type(s) token"),
    _rule("response-types-match-grants", _meta(TLS, response_types=["code"]), "response_types: code goes with grant type authorization_code (RFC 7591 section 2.1)"),
    _rule("response-types-need-code-for-code-grant", _meta(CODE, response_types=[]), "response_types: code goes with grant type authorization_code (RFC 7591 section 2.1)"),
    _rule("redirect-uris-required-for-code", _meta(CODE, redirect_uris=DROP), "redirect_uris: required with the authorization_code grant"),
    _rule("redirect-uris-only-for-code", _meta(TLS, redirect_uris=["https://app/cb"]), "redirect_uris: only used with the authorization_code grant"),
    _rule("redirect-uris-is-a-list", _meta(CODE, redirect_uris="https://app/cb"), "redirect_uris: must be a list of non-empty strings"),
    _rule("redirect-uri-is-https", _meta(CODE, redirect_uris=["http://app.example/cb"]), "redirect_uris: must be an absolute https URL"),
    _rule("redirect-uri-has-no-fragment", _meta(CODE, redirect_uris=["https://app.example/cb#x"]), "redirect_uris: must not have a fragment"),
    _rule("scope-is-a-string", _meta(TLS, scope=["read"]), "scope: must be a string"),
    _rule("scope-charset", _meta(TLS, scope='re"ad'), "scope: scope contains a character outside the RFC 6749 scope-token set"),
    _rule("scope-supported", _meta(TLS, scope="read write"), "scope: not supported by this server: write", policy=ServerPolicy(issuer="https://as", mtls_base_url=None, scopes_supported=("read",))),
    _rule("client-name-is-a-string", _meta(TLS, client_name=7), "client_name: must be a string"),
    _rule("client-name-at-most-200", _meta(TLS, client_name="n" * 201), "client_name: longer than 200 characters"),
    _rule("bound-tokens-is-a-bool", _meta(TLS, tls_client_certificate_bound_access_tokens="yes"), "tls_client_certificate_bound_access_tokens: must be true or false"),
    _rule("bound-tokens-required-by-policy", _meta(TLS, tls_client_certificate_bound_access_tokens=False), "tls_client_certificate_bound_access_tokens: this server issues only certificate-bound access tokens (RFC 8705 section 3)"),
    _rule("lifetime-in-range", _meta(TLS, access_token_lifetime=10), "access_token_lifetime: must be an integer number of seconds, 30 to 86400"),
    _rule("lifetime-is-an-integer", _meta(TLS, access_token_lifetime="600"), "access_token_lifetime: must be an integer number of seconds"),
    _rule("lifetime-is-not-a-bool", _meta(TLS, access_token_lifetime=True), "access_token_lifetime: must be an integer number of seconds"),
    _rule("client-id-charset", TLS, "client_id: must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -", client_id="bad id!"),
    _rule("client-id-length", TLS, "client_id: must be 1 to 128 characters", client_id="x" * 129),
    _rule("client-id-assigned-by-server", _meta(TLS, client_id="mine"), "client_id: is assigned by the server"),
    _rule("no-client-secret", _meta(TLS, client_secret="s3cret"), "client_secret: certbound issues no client secrets"),
    _rule("no-registration-access-token", _meta(TLS, registration_access_token="t"), "registration_access_token: is set by the server"),
    _rule("no-client-id-issued-at", _meta(TLS, client_id_issued_at=1), "client_id_issued_at: is set by the server"),
    _rule("extra-is-plain-json", _meta(TLS, logo_ratio=float("nan")), "logo_ratio: is not plain JSON"),
    _rule("extra-is-json-typed", _meta(TLS, software_blob=b"raw"), "software_blob: is not plain JSON"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "policy", "client_id", "description"), RULES)
def test_every_rule_refuses_with_the_field_named(
    raw: Any, policy: ServerPolicy, client_id: str | None, description: str
) -> None:
    with pytest.raises(InvalidClientMetadataError) as caught:
        _validate(raw, policy=policy, client_id=client_id)
    assert caught.value.error == "invalid_client_metadata"
    assert caught.value.description is not None
    assert caught.value.description.startswith(description)
    assert "?" not in caught.value.description  # nothing was outside the RFC 6749 charset


def test_generate_id_is_called_only_when_no_client_id_is_given() -> None:
    calls: list[int] = []

    def make() -> str:
        calls.append(1)
        return "made"

    validate_client_metadata(TLS, client_id="given", now=_NOW, policy=POLICY, generate_id=make)
    assert calls == []
    assert (
        validate_client_metadata(
            TLS, client_id=None, now=_NOW, policy=POLICY, generate_id=make
        ).client_id
        == "made"
    )
