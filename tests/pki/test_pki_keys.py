"""Key generation, PKCS#8 encryption at rest and loading, with a specific error for each failure."""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from certbound.pki import (
    KeyType,
    PkiError,
    PrivateKey,
    encode_private_key,
    generate_private_key,
    key_type_of,
    load_private_key,
    parse_key_type,
    require_matching_key,
)
from certbound.pki.keys import signature_hash
from testpki import make_leaf

FAST_TYPES = [k for k in KeyType if k is not KeyType.RSA_4096]  # 4096 is tested once, in the CLI


@pytest.fixture(scope="module")
def keys() -> dict[KeyType, PrivateKey]:
    return {k: generate_private_key(k) for k in FAST_TYPES}


@pytest.mark.parametrize("key_type", FAST_TYPES)
def test_generated_key_has_the_requested_type(
    keys: dict[KeyType, PrivateKey], key_type: KeyType
) -> None:
    key = keys[key_type]
    assert key_type_of(key) is key_type
    assert key_type_of(key.public_key()) is key_type


def test_rsa_keys_use_exponent_65537(keys: dict[KeyType, PrivateKey]) -> None:
    key = keys[KeyType.RSA_2048]
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.public_key().public_numbers().e == 65537


@pytest.mark.parametrize(
    ("key_type", "hash_name"),
    [
        (KeyType.EC_P256, "sha256"),
        (KeyType.EC_P384, "sha384"),
        (KeyType.RSA_2048, "sha256"),
        (KeyType.ED25519, None),
    ],
)
def test_signature_hash_follows_the_key(
    keys: dict[KeyType, PrivateKey], key_type: KeyType, hash_name: str | None
) -> None:
    algorithm = signature_hash(keys[key_type])
    assert (algorithm.name if algorithm else None) == hash_name


@pytest.mark.parametrize("key_type", FAST_TYPES)
def test_encrypted_key_round_trips_with_its_passphrase(
    keys: dict[KeyType, PrivateKey], key_type: KeyType
) -> None:
    pem = encode_private_key(keys[key_type], b"s3cret")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = load_private_key(pem, lambda: b"s3cret", label="k.key")
    assert key_type_of(loaded) is key_type


def test_unencrypted_key_never_asks_for_a_passphrase(keys: dict[KeyType, PrivateKey]) -> None:
    pem = encode_private_key(keys[KeyType.EC_P256], None)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")

    def ask() -> bytes:
        raise AssertionError("asked for a passphrase of an unencrypted key")

    assert key_type_of(load_private_key(pem, ask, label="k.key")) is KeyType.EC_P256


def test_der_key_loads(keys: dict[KeyType, PrivateKey]) -> None:
    der = keys[KeyType.EC_P384].private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert key_type_of(load_private_key(der, None, label="k.der")) is KeyType.EC_P384


def test_wrong_passphrase_is_named(keys: dict[KeyType, PrivateKey]) -> None:
    pem = encode_private_key(keys[KeyType.EC_P256], b"right")
    with pytest.raises(PkiError, match=r"^wrong passphrase for ca/root\.key$"):
        load_private_key(pem, lambda: b"wrong", label="ca/root.key")


def test_encrypted_key_without_passphrase_source_is_refused(
    keys: dict[KeyType, PrivateKey],
) -> None:
    pem = encode_private_key(keys[KeyType.EC_P256], b"right")
    with pytest.raises(PkiError, match=re.escape("k.key is encrypted and no passphrase was given")):
        load_private_key(pem, None, label="k.key")


def test_passphrase_source_errors_pass_through(keys: dict[KeyType, PrivateKey]) -> None:
    pem = encode_private_key(keys[KeyType.EC_P256], b"right")

    def broken() -> bytes:
        raise PkiError("passphrase file p.txt does not exist")

    with pytest.raises(PkiError, match=r"^passphrase file p\.txt does not exist$"):
        load_private_key(pem, broken, label="k.key")


@pytest.mark.parametrize("cut", [40, 120])
def test_truncated_key_is_not_readable(keys: dict[KeyType, PrivateKey], cut: int) -> None:
    pem = encode_private_key(keys[KeyType.EC_P256], None)
    with pytest.raises(PkiError, match=re.escape("k.key is not a readable private key")):
        load_private_key(pem[:cut], None, label="k.key")


def test_garbage_der_is_not_readable() -> None:
    with pytest.raises(PkiError, match="is not a readable private key"):
        load_private_key(b"\x30\x03\x02\x01", None, label="k.der")


def test_dsa_key_is_an_unsupported_type() -> None:
    small_dsa = dsa.generate_private_key(1024)  # noqa: S505 (fast; refused anyway)
    pem = small_dsa.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(PkiError, match="unsupported key type DSAPrivateKey"):
        load_private_key(pem, None, label="k.key")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (ec.generate_private_key(ec.SECP521R1()), "EC curve secp521r1"),
        (rsa.generate_private_key(65537, 1024), "RSA 1024 bits"),  # noqa: S505
        (ed448.Ed448PrivateKey.generate(), "Ed448PrivateKey"),
    ],
)
def test_key_type_of_refuses_other_keys(key: object, message: str) -> None:
    with pytest.raises(PkiError, match=f"unsupported key type: {message}"):
        key_type_of(key)


@pytest.mark.parametrize("text", ["ec-p256", "EC-P384", " rsa-3072 ", "ed25519"])
def test_parse_key_type_accepts_cli_spellings(text: str) -> None:
    assert parse_key_type(text).value == text.strip().lower()


@pytest.mark.parametrize("text", ["dsa", "rsa-1024", "ec-p521", ""])
def test_parse_key_type_lists_the_choices(text: str) -> None:
    with pytest.raises(PkiError, match=r"unknown key type .*use one of ec-p256, ec-p384"):
        parse_key_type(text)


def test_require_matching_key_refuses_another_key(keys: dict[KeyType, PrivateKey]) -> None:
    leaf = make_leaf(None, "self")
    require_matching_key(leaf.cert, leaf.key, label="self.key")
    with pytest.raises(
        PkiError, match=re.escape("other.key does not match the certificate's public key")
    ):
        require_matching_key(leaf.cert, keys[KeyType.EC_P256], label="other.key")


def test_ed25519_key_is_ed25519(keys: dict[KeyType, PrivateKey]) -> None:
    assert isinstance(keys[KeyType.ED25519], ed25519.Ed25519PrivateKey)
    assert isinstance(signature_hash(keys[KeyType.RSA_3072]), hashes.SHA256)
