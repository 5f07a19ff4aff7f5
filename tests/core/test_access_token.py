"""core.tokens.access_token: RFC 9068 issuance with the RFC 8705 §3.1 cnf, and RS-side checks."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from certbound.core.errors import InvalidTokenError
from certbound.core.mtls.certificate import x5t_s256
from certbound.core.tokens import ACCESS_TOKEN_TYP, issue_access_token, verify_access_token
from certbound.keys import LocalSigner

if TYPE_CHECKING:
    from conftest import TestPKI

ISSUER = "https://as.example.com"
RS = "https://rs.example.com"
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def signer() -> LocalSigner:
    return LocalSigner.generate("ES256")


@pytest.fixture(scope="module")
def jwks(signer: LocalSigner) -> dict[str, Any]:
    return {"keys": [signer.public_jwk()]}


def _issue(signer: LocalSigner, **overrides: Any) -> str:
    args: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": "c1",
        "subject": "c1",
        "audience": RS,
        "scope": ("read",),
        "lifetime": 600,
        "now": NOW,
        "cnf_thumbprint": "thumb",
    }
    args.update(overrides)
    return issue_access_token(signer, **args).token


def _verify(token: str, keys: Any, **overrides: Any) -> Any:
    args: dict[str, Any] = {"issuer": ISSUER, "audience": RS, "now": NOW + 1}
    args.update(overrides)
    return verify_access_token(token, keys, **args)


# A second key, used directly through joserfc to build tokens certbound would never issue.
_RAW_KEY = ECKey.generate_key("P-256", parameters={"kid": "raw"})
_RAW_JWKS = {"keys": [_RAW_KEY.as_dict(private=False)]}
_GOOD_CLAIMS = {
    "iss": ISSUER,
    "sub": "c1",
    "aud": RS,
    "client_id": "c1",
    "iat": NOW,
    "exp": NOW + 600,
    "jti": "j1",
}


def _raw_token(payload: bytes | dict[str, Any], **header: Any) -> str:
    protected = {"alg": "ES256", "kid": "raw", "typ": "at+jwt", **header}
    if isinstance(payload, dict):
        return jwt.encode(protected, payload, _RAW_KEY, algorithms=["ES256"])
    return jws.serialize_compact(protected, payload, _RAW_KEY, algorithms=["ES256"])


# --- issuance -------------------------------------------------------------------------------


def test_issued_token_is_an_rfc9068_jwt_bound_to_the_certificate(
    signer: LocalSigner, jwks: dict[str, Any], pki: TestPKI
) -> None:
    thumbprint = x5t_s256(pki.client.cert)
    issued = issue_access_token(
        signer,
        issuer=ISSUER,
        client_id="c1",
        subject="c1",
        audience=RS,
        scope=("read", "write"),
        lifetime=300,
        now=NOW,
        cnf_thumbprint=thumbprint,
    )
    decoded = jwt.decode(issued.token, KeySet.import_key_set(jwks), algorithms=["ES256"])  # type: ignore[arg-type]
    assert decoded.header == {"typ": "at+jwt", "alg": "ES256", "kid": signer.kid}
    claims = decoded.claims
    assert claims["exp"] - claims["iat"] == 300
    assert (claims["iss"], claims["sub"], claims["aud"], claims["client_id"]) == (
        ISSUER,
        "c1",
        RS,
        "c1",
    )
    assert claims["scope"] == "read write"
    assert claims["jti"] == issued.jti
    der = pki.client.cert.public_bytes(Encoding.DER)
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert claims["cnf"] == {"x5t#S256": thumbprint} == {"x5t#S256": expected}
    assert issued.expires_in == 300
    assert dict(issued.claims) == claims


def test_issued_token_omits_scope_and_cnf_when_there_are_none(signer: LocalSigner) -> None:
    issued = issue_access_token(
        signer,
        issuer=ISSUER,
        client_id="c1",
        subject="c1",
        audience=RS,
        scope=(),
        lifetime=60,
        now=NOW,
        cnf_thumbprint=None,
    )
    assert "scope" not in issued.claims
    assert "cnf" not in issued.claims


def test_several_audiences_become_a_list(signer: LocalSigner, jwks: dict[str, Any]) -> None:
    token = _issue(signer, audience=(RS, "https://rs2.example.com"))
    claims = _verify(token, jwks, audience="https://rs2.example.com")
    assert claims["aud"] == [RS, "https://rs2.example.com"]


def test_default_jti_is_128_random_bits_base64url(signer: LocalSigner) -> None:
    jtis = {issue_access_token(signer, **_ISSUE_ARGS).jti for _ in range(20)}
    assert len(jtis) == 20
    for jti in jtis:
        assert len(base64.urlsafe_b64decode(jti + "==")) == 16


_ISSUE_ARGS: dict[str, Any] = {
    "issuer": ISSUER,
    "client_id": "c1",
    "subject": "c1",
    "audience": RS,
    "scope": (),
    "lifetime": 60,
    "now": NOW,
    "cnf_thumbprint": None,
}


def test_given_jti_and_extra_claims_are_used(signer: LocalSigner) -> None:
    issued = issue_access_token(signer, **_ISSUE_ARGS, jti="j-1", extra_claims={"acr": "mtls"})
    assert issued.jti == "j-1"
    assert issued.claims["jti"] == "j-1"
    assert issued.claims["acr"] == "mtls"


def test_claims_of_an_issued_token_are_read_only(signer: LocalSigner) -> None:
    issued = issue_access_token(signer, **_ISSUE_ARGS)
    with pytest.raises(TypeError):
        issued.claims["sub"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        pytest.param(
            {"extra_claims": {"cnf": {}, "sub": "x"}},
            "extra_claims may not set cnf, sub",
            id="reserved",
        ),
        pytest.param({"audience": ()}, "at least one non-empty audience", id="no-aud"),
        pytest.param({"audience": ""}, "at least one non-empty audience", id="empty-aud"),
        pytest.param({"lifetime": 0}, "lifetime must be positive", id="lifetime"),
    ],
)
def test_issue_refuses_programming_errors(
    signer: LocalSigner, override: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        issue_access_token(signer, **{**_ISSUE_ARGS, **override})


# --- verification (resource server side) -----------------------------------------------------


def test_verify_returns_the_claims_of_a_valid_token(
    signer: LocalSigner, jwks: dict[str, Any]
) -> None:
    claims = _verify(_issue(signer), jwks)
    assert claims["cnf"] == {"x5t#S256": "thumb"}
    assert claims["scope"] == "read"


def test_verify_accepts_a_joserfc_keyset(signer: LocalSigner, jwks: dict[str, Any]) -> None:
    assert _verify(_issue(signer), KeySet.import_key_set(jwks))["sub"] == "c1"  # type: ignore[arg-type]


def test_verify_accepts_the_full_media_type_in_typ() -> None:
    token = _raw_token(_GOOD_CLAIMS, typ="Application/AT+JWT")
    assert _verify(token, _RAW_JWKS)["jti"] == "j1"


def test_verify_accepts_a_token_expired_within_the_leeway(
    signer: LocalSigner, jwks: dict[str, Any]
) -> None:
    assert _verify(_issue(signer), jwks, now=NOW + 600 + 29)["sub"] == "c1"


def test_verify_refuses_an_unreadable_jwks(signer: LocalSigner) -> None:
    with pytest.raises(ValueError, match="not a usable JWK Set"):
        _verify(_issue(signer), {"keys": []})


_OTHER_ES256 = ECKey.generate_key("P-256")


def _impostor_jwks(signer: LocalSigner, key: Any) -> dict[str, Any]:
    """A JWK Set that names the signer's kid but holds another public key."""
    return {"keys": [{**key.as_dict(private=False), "kid": signer.kid}]}


@pytest.mark.parametrize(
    ("make", "description"),
    [
        pytest.param(lambda s, j: ("not-a-jwt", j), "malformed access token", id="malformed"),
        pytest.param(lambda s, j: ("é.é.é", j), "malformed access token", id="non-ascii"),
        pytest.param(
            lambda s, j: (s.encode(dict(_GOOD_CLAIMS), {"typ": "JWT"}), j),
            "the token is not an access token (typ is not at+jwt)",
            id="typ-jwt",
        ),
        pytest.param(
            lambda s, j: (s.encode(dict(_GOOD_CLAIMS), {}), j),
            "the token is not an access token (typ is not at+jwt)",
            id="typ-missing",
        ),
        pytest.param(
            lambda s, j: (_issue(LocalSigner.generate()), j),
            "the token was signed with an unknown key (kid)",
            id="unknown-kid",
        ),
        pytest.param(
            lambda s, j: (_issue(s), _impostor_jwks(s, _OTHER_ES256)),
            "the token signature is invalid",
            id="bad-signature",
        ),
        pytest.param(
            lambda s, j: (_issue(s), _impostor_jwks(s, RSAKey.generate_key(2048))),
            "the token's key does not fit its algorithm",
            id="key-type",
        ),
        pytest.param(
            lambda s, j: (_raw_token(b"not json"), _RAW_JWKS),
            "the token payload is not JSON",
            id="payload-not-json",
        ),
        pytest.param(
            lambda s, j: (_raw_token(b"[1]"), _RAW_JWKS),
            "the token payload is not a JSON object",
            id="payload-array",
        ),
        pytest.param(
            lambda s, j: (_issue(s, issuer="https://evil.example.com"), j),
            "the token was issued by another issuer",
            id="wrong-iss",
        ),
        pytest.param(
            lambda s, j: (_issue(s, audience="https://other-rs.example.com"), j),
            "the token is not intended for this audience",
            id="wrong-aud",
        ),
        pytest.param(
            lambda s, j: (_issue(s, now=NOW - 700), j),
            "the token has expired",
            id="expired",
        ),
        pytest.param(
            lambda s, j: (_issue(s, now=NOW + 100), j),
            "the token was issued in the future",
            id="iat-future",
        ),
        pytest.param(
            lambda s, j: (_raw_token({**_GOOD_CLAIMS, "nbf": NOW + 100}), _RAW_JWKS),
            "the token is not valid yet",
            id="nbf-future",
        ),
        pytest.param(
            lambda s, j: (_raw_token({**_GOOD_CLAIMS, "client_id": None, "jti": None}), _RAW_JWKS),
            "the token lacks the claim(s) client_id,jti",
            id="missing-claims",
        ),
        pytest.param(
            lambda s, j: (_raw_token({**_GOOD_CLAIMS, "sub": 7}), _RAW_JWKS),
            "the token's 'sub' claim is invalid",
            id="sub-type",
        ),
    ],
)
def test_verify_refuses_with_a_specific_description(
    signer: LocalSigner, jwks: dict[str, Any], make: Any, description: str
) -> None:
    token, keys = make(signer, jwks)
    with pytest.raises(InvalidTokenError) as caught:
        _verify(token, keys)
    assert caught.value.description == description
    assert caught.value.status_code == 401


def test_verify_refuses_an_algorithm_not_accepted(
    signer: LocalSigner, jwks: dict[str, Any]
) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        _verify(_issue(signer), jwks, algorithms=("PS256",))
    assert caught.value.description == "the token's signature algorithm is not accepted"


def test_verify_refuses_alg_none(jwks: dict[str, Any]) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt"}').rstrip(b"=").decode()
    with pytest.raises(InvalidTokenError) as caught:
        _verify(f"{header}.e30.", jwks)
    assert caught.value.description == "the token's signature algorithm is not accepted"


def test_access_token_typ_is_at_jwt() -> None:
    assert ACCESS_TOKEN_TYP == "at+jwt"


@settings(max_examples=100, deadline=None)
@given(
    st.text(max_size=80)
    | st.from_regex(r"[A-Za-z0-9_-]{0,20}\.[A-Za-z0-9_-]{0,20}\.[A-Za-z0-9_-]{0,20}")
)
def test_verify_of_arbitrary_text_is_invalid_token_and_nothing_else(token: str) -> None:
    with pytest.raises(InvalidTokenError):
        _verify(token, _RAW_JWKS)
