"""keys.local and keys.keyset: in-process signers, the published JWKS, the key directory."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from joserfc.util import urlsafe_b64decode

from certbound.keys import (
    STATE_FILE,
    LocalSigner,
    load_keyset,
    load_or_create_signing_key,
    normalize_alg,
)
from certbound.keys import (
    KeySet as SigningKeySet,
)
from certbound.keys.keyset import _create
from certbound.keys.local import _es256

ALGS = ("ES256", "PS256", "Ed25519")
_JOSE_CLASSES: dict[str, type[ECKey | RSAKey | OKPKey]] = {
    "ES256": ECKey,
    "PS256": RSAKey,
    "Ed25519": OKPKey,
}


@pytest.fixture(scope="module")
def signers() -> dict[str, LocalSigner]:
    return {alg: LocalSigner.generate(alg) for alg in ALGS}


def _pem(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize("alg", ALGS)
def test_signed_token_verifies_with_the_published_jwk(
    signers: dict[str, LocalSigner], alg: str
) -> None:
    signer = signers[alg]
    token = signer.encode({"sub": "s1"}, {"typ": "at+jwt"})
    public = KeySet.import_key_set({"keys": [signer.public_jwk()]})
    decoded = jwt.decode(token, public, algorithms=[alg])
    assert decoded.claims == {"sub": "s1"}
    assert decoded.header == {"typ": "at+jwt", "alg": alg, "kid": signer.kid}


@pytest.mark.parametrize("alg", ALGS)
def test_kid_is_the_rfc7638_thumbprint(signers: dict[str, LocalSigner], alg: str) -> None:
    signer = signers[alg]
    members = {k: v for k, v in signer.public_jwk().items() if k not in ("kid", "alg", "use")}
    assert signer.kid == _JOSE_CLASSES[alg].import_key(members).thumbprint()


@pytest.mark.parametrize("alg", ALGS)
def test_public_jwk_has_kid_alg_use_and_no_private_members(
    signers: dict[str, LocalSigner], alg: str
) -> None:
    jwk = signers[alg].public_jwk()
    assert (jwk["kid"], jwk["alg"], jwk["use"]) == (signers[alg].kid, alg, "sig")
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)


def test_header_cannot_override_alg_or_kid(signers: dict[str, LocalSigner]) -> None:
    signer = signers["ES256"]
    token = signer.encode({}, {"alg": "none", "kid": "other"})
    header = jwt.decode(token, KeySet.import_key_set({"keys": [signer.public_jwk()]})).header
    assert (header["alg"], header["kid"]) == ("ES256", signer.kid)


def test_no_typ_is_added_when_the_caller_sets_none(signers: dict[str, LocalSigner]) -> None:
    signer = signers["ES256"]
    token = signer.encode({}, {})
    assert "typ" not in jwt.decode(token, ECKey.import_key(signer.public_jwk())).header


CLAIMS = {"iss": "https://as.example", "sub": "c1", "exp": 1900000000, "scope": "read write",
          "cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}, "name": "Zoë ✓"}  # fmt: skip


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("header", [{"typ": "at+jwt"}, {"typ": "token-introspection+jwt"}, {}])
def test_tokens_are_what_joserfc_jwt_encode_gives(
    signers: dict[str, LocalSigner], alg: str, header: dict[str, str]
) -> None:
    """The signer's precomputed header and direct signing change nothing in the JWS: the same
    header and payload segments as ``joserfc.jwt.encode`` (the whole token for deterministic
    Ed25519), and it verifies; headers alternate as the token and introspection endpoints do."""
    signer = signers[alg]
    for _ in range(2):  # the second round is served from the header cache
        token = signer.encode(CLAIMS, header)
        reference = jwt.encode(
            {**header, "alg": alg, "kid": signer.kid},
            dict(CLAIMS),
            signer._jose,
            [alg],
            default_type=None,
        )
        assert token.rsplit(".", 1)[0] == reference.rsplit(".", 1)[0]
        if alg == "Ed25519":
            assert token == reference
        decoded = jwt.decode(token, KeySet.import_key_set({"keys": [signer.public_jwk()]}), [alg])
        assert decoded.claims == CLAIMS
        assert decoded.header == {**header, "alg": alg, "kid": signer.kid}


def test_a_header_with_an_unhashable_value_is_signed_too(signers: dict[str, LocalSigner]) -> None:
    signer = signers["ES256"]
    token = signer.encode({"sub": "s"}, {"typ": "JWT", "x5c": ["AAAA", "BBBB"]})
    header = jwt.decode(token, ECKey.import_key(signer.public_jwk())).header
    assert header["x5c"] == ["AAAA", "BBBB"]


def test_a_header_joserfc_refuses_is_refused(signers: dict[str, LocalSigner]) -> None:
    from joserfc.errors import JoseError

    with pytest.raises(JoseError):
        signers["ES256"].encode({"sub": "s"}, {"crit": ["unknown-extension"]})


def test_default_algorithm_is_es256_on_p256() -> None:
    assert LocalSigner.generate().alg == "ES256"


def test_generated_rsa_key_has_3072_bits(signers: dict[str, LocalSigner]) -> None:
    jwk = RSAKey.import_key(signers["PS256"].public_jwk())
    assert jwk.raw_value.key_size == 3072


def test_eddsa_is_accepted_as_an_alias_of_ed25519() -> None:
    assert normalize_alg("EdDSA") == "Ed25519"
    assert LocalSigner.generate("EdDSA").alg == "Ed25519"


def test_unsupported_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported signing algorithm 'HS256'"):
        LocalSigner.generate("HS256")


@pytest.mark.parametrize("alg", ALGS)
def test_pem_round_trip_keeps_the_kid(signers: dict[str, LocalSigner], alg: str) -> None:
    loaded = LocalSigner.from_pem(signers[alg].to_pem())
    assert (loaded.kid, loaded.alg) == (signers[alg].kid, alg)


def test_encrypted_pem_round_trip(signers: dict[str, LocalSigner]) -> None:
    pem = signers["ES256"].to_pem(b"s3cret")
    assert b"ENCRYPTED" in pem
    assert LocalSigner.from_pem(pem, b"s3cret").kid == signers["ES256"].kid


def test_from_pem_with_wrong_password_says_so(signers: dict[str, LocalSigner]) -> None:
    with pytest.raises(ValueError, match="wrong password"):
        LocalSigner.from_pem(signers["ES256"].to_pem(b"right"), b"wrong")


def test_from_pem_of_encrypted_key_without_password_asks_for_one(
    signers: dict[str, LocalSigner],
) -> None:
    with pytest.raises(ValueError, match="a password is required"):
        LocalSigner.from_pem(signers["ES256"].to_pem(b"right"))


def test_from_pem_with_password_for_plain_key_says_so(signers: dict[str, LocalSigner]) -> None:
    with pytest.raises(ValueError, match="not encrypted, but a password was given"):
        LocalSigner.from_pem(signers["ES256"].to_pem(), b"pw")


def test_from_pem_of_garbage_is_refused() -> None:
    with pytest.raises(ValueError, match="not a PEM private key"):
        LocalSigner.from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def _weak_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 1024)  # noqa: S505 (the weak key under test)


def _dsa() -> dsa.DSAPrivateKey:
    return dsa.generate_private_key(1024)  # noqa: S505 (a refused key type)


@pytest.mark.parametrize(
    ("make_key", "message"),
    [
        pytest.param(
            lambda: ec.generate_private_key(ec.SECP384R1()),
            "unsupported EC curve secp384r1",
            id="p384",
        ),
        pytest.param(_weak_rsa, "1024 bits is too short", id="rsa1024"),
        pytest.param(ed448.Ed448PrivateKey.generate, "unsupported key type", id="ed448"),
        pytest.param(_dsa, "unsupported key type", id="dsa"),
    ],
)
def test_from_pem_refuses_unsupported_keys(make_key: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LocalSigner.from_pem(_pem(make_key()))


def test_from_pem_refuses_an_alg_the_key_cannot_sign(signers: dict[str, LocalSigner]) -> None:
    with pytest.raises(ValueError, match="cannot sign PS256; it signs ES256"):
        LocalSigner.from_pem(signers["ES256"].to_pem(), alg="PS256")


def test_from_pem_accepts_the_matching_alg(signers: dict[str, LocalSigner]) -> None:
    assert LocalSigner.from_pem(signers["Ed25519"].to_pem(), alg="EdDSA").alg == "Ed25519"


def test_repr_shows_alg_and_kid_only(signers: dict[str, LocalSigner]) -> None:
    assert repr(signers["ES256"]) == f"LocalSigner(alg='ES256', kid={signers['ES256'].kid!r})"


# --- KeySet ---------------------------------------------------------------------------------


def test_keyset_publishes_every_key_and_signs_with_the_active_one(
    signers: dict[str, LocalSigner],
) -> None:
    keys = SigningKeySet(list(signers.values()), active_kid=signers["PS256"].kid)
    assert keys.active is signers["PS256"]
    published = keys.jwks()["keys"]
    assert [k["kid"] for k in published] == [s.kid for s in signers.values()]
    assert all(k["use"] == "sig" for k in published)
    assert [k["alg"] for k in published] == list(ALGS)


def test_keyset_defaults_to_the_first_key_as_active(signers: dict[str, LocalSigner]) -> None:
    assert SigningKeySet([signers["Ed25519"], signers["ES256"]]).active is signers["Ed25519"]


def test_keyset_public_keyset_verifies_tokens_of_every_key(
    signers: dict[str, LocalSigner],
) -> None:
    public = SigningKeySet(list(signers.values())).public_keyset()
    for alg, signer in signers.items():
        assert jwt.decode(signer.encode({"n": 1}, {}), public, algorithms=[alg]).claims == {"n": 1}


def test_keyset_get_finds_a_key_by_kid(signers: dict[str, LocalSigner]) -> None:
    keys = SigningKeySet([signers["ES256"]])
    assert keys.get(signers["ES256"].kid) is signers["ES256"]
    assert keys.get("nope") is None
    assert keys.signers == (signers["ES256"],)


def test_keyset_refuses_no_keys() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        SigningKeySet([])


def test_keyset_refuses_a_duplicate_kid(signers: dict[str, LocalSigner]) -> None:
    with pytest.raises(ValueError, match="same kid twice"):
        SigningKeySet([signers["ES256"], LocalSigner.from_pem(signers["ES256"].to_pem())])


def test_keyset_refuses_an_unknown_active_kid(signers: dict[str, LocalSigner]) -> None:
    with pytest.raises(ValueError, match="active kid 'x' is not in the key set"):
        SigningKeySet([signers["ES256"]], active_kid="x")


# --- the key directory ------------------------------------------------------------------------


def test_load_or_create_makes_a_private_key_file_and_state(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    signer = load_or_create_signing_key(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    key_file = directory / f"{signer.kid}.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    state = json.loads((directory / STATE_FILE).read_text())
    assert state == {"active": signer.kid, "published": [signer.kid]}
    assert sorted(p.name for p in directory.iterdir()) == sorted([key_file.name, STATE_FILE])


def test_load_or_create_returns_the_existing_key(tmp_path: Path) -> None:
    first = load_or_create_signing_key(tmp_path, "Ed25519")
    assert load_or_create_signing_key(tmp_path, "EdDSA").kid == first.kid


def test_load_or_create_with_password_encrypts_the_file(tmp_path: Path) -> None:
    signer = load_or_create_signing_key(tmp_path, password=b"pw")
    assert b"ENCRYPTED" in (tmp_path / f"{signer.kid}.pem").read_bytes()
    assert load_or_create_signing_key(tmp_path, password=b"pw").kid == signer.kid


def test_load_or_create_refuses_to_switch_algorithm_silently(tmp_path: Path) -> None:
    load_or_create_signing_key(tmp_path, "ES256")
    with pytest.raises(ValueError, match="is ES256, not Ed25519; rotate"):
        load_or_create_signing_key(tmp_path, "Ed25519")


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    results: list[str] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait(timeout=10)
        results.append(load_or_create_signing_key(tmp_path / "keys").kid)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 6
    assert len(set(results)) == 1
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == sorted(
        [f"{results[0]}.pem", STATE_FILE]
    )


def test_creation_that_loses_the_race_removes_its_own_key(tmp_path: Path) -> None:
    winner = load_or_create_signing_key(tmp_path)
    with pytest.raises(FileExistsError):
        _create(tmp_path, "ES256", None)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{winner.kid}.pem", STATE_FILE])


def test_load_keyset_without_state_file_says_which_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"cannot read .*{STATE_FILE}"):
        load_keyset(tmp_path)


def test_load_keyset_publishes_every_key_in_state(tmp_path: Path) -> None:
    first = load_or_create_signing_key(tmp_path)
    second = LocalSigner.generate("Ed25519")
    (tmp_path / f"{second.kid}.pem").write_bytes(second.to_pem())
    state = {"active": second.kid, "published": [first.kid, second.kid]}
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    keys = load_keyset(tmp_path)
    assert keys.active.kid == second.kid
    assert [k["kid"] for k in keys.jwks()["keys"]] == [first.kid, second.kid]


@pytest.mark.parametrize(
    "state",
    ["{not json", json.dumps({"active": "a"}), json.dumps({"active": "a", "published": ["b"]})],
    ids=["not-json", "no-published", "active-unpublished"],
)
def test_load_keyset_refuses_a_bad_state_file(tmp_path: Path, state: str) -> None:
    (tmp_path / STATE_FILE).write_text(state)
    with pytest.raises(ValueError, match=STATE_FILE):
        load_keyset(tmp_path)


def test_load_keyset_refuses_a_missing_key_file(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text(json.dumps({"active": "k1", "published": ["k1"]}))
    with pytest.raises(ValueError, match=r"cannot read signing key .*k1\.pem"):
        load_keyset(tmp_path)


def test_load_keyset_refuses_a_key_file_whose_name_is_not_its_kid(tmp_path: Path) -> None:
    signer = LocalSigner.generate()
    (tmp_path / "k1.pem").write_bytes(signer.to_pem())
    (tmp_path / STATE_FILE).write_text(json.dumps({"active": "k1", "published": ["k1"]}))
    with pytest.raises(ValueError, match=f"thumbprint is {signer.kid}, not the file's name"):
        load_keyset(tmp_path)


def test_load_keyset_names_the_file_of_an_unreadable_key(tmp_path: Path) -> None:
    (tmp_path / "k1.pem").write_bytes(b"garbage")
    (tmp_path / STATE_FILE).write_text(json.dumps({"active": "k1", "published": ["k1"]}))
    with pytest.raises(ValueError, match=r"k1\.pem: not a PEM private key"):
        load_keyset(tmp_path)


class _FixedDerKey:
    """Stands in for a P-256 key whose ECDSA signature is the given DER (r, s)."""

    curve_key_size = 256

    def __init__(self, r: int, s: int) -> None:
        self.der = encode_dss_signature(r, s)

    def sign(self, message: bytes, algorithm: object) -> bytes:
        assert isinstance(algorithm, ec.ECDSA)
        assert isinstance(algorithm.algorithm, hashes.SHA256)
        return self.der

    def get_op_key(self, operation: str) -> _FixedDerKey:
        assert operation == "sign"
        return self


@pytest.mark.parametrize(
    ("r", "s"),
    [(1, 2), (2**255 + 7, 3), (5, 2**256 - 1), (2**248 - 1, 2**200)],
    ids=["both-short", "short-s", "full-s", "leading-zero-bytes"],
)
def test_es256_signature_bytes_are_joserfc_s_for_every_r_and_s(r: int, s: int) -> None:
    """RFC 7518 §3.4: r and s as 32 big-endian octets each, zero-padded; the same bytes joserfc's
    ES256 model makes of the same DER signature."""
    key = _FixedDerKey(r, s)
    ours = _es256(key)(b"input", None)  # type: ignore[arg-type]
    assert ours == JWSRegistry.algorithms["ES256"].sign(b"input", key)  # type: ignore[arg-type]
    assert ours == r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_es256_tokens_verify_every_time(signers: dict[str, LocalSigner]) -> None:
    """Many real signatures (about one in 128 has an r or s with a leading zero octet)."""
    signer = signers["ES256"]
    public = KeySet.import_key_set({"keys": [signer.public_jwk()]})
    for n in range(400):
        token = signer.encode({"n": n}, {"typ": "at+jwt"})
        assert len(urlsafe_b64decode(token.rsplit(".", 1)[1].encode())) == 64
        assert jwt.decode(token, public, algorithms=["ES256"]).claims == {"n": n}
