"""RFC 8705 §2.1 / RFC 5280 §6: chain validation, failure reasons and CRL revocation."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from certbound.core.mtls.certificate import CertificateSource, PeerCertificate
from certbound.core.mtls.verification import (
    CertificateError,
    CertificateErrorReason,
    ChainVerifier,
    TrustStore,
    VerifiedChain,
)
from testpki import NOW, Issued, make_ca, make_leaf, name, pem_bundle

if TYPE_CHECKING:
    from conftest import TestPKI

Reason = CertificateErrorReason
DAY = dt.timedelta(days=1)


def peer(*certs: x509.Certificate) -> PeerCertificate:
    return PeerCertificate(certs, CertificateSource.TLS)


def make_crl(
    issuer: Issued,
    revoked: tuple[x509.Certificate, ...] = (),
    *,
    next_update: dt.datetime = NOW + 7 * DAY,
    signer: ec.EllipticCurvePrivateKey | None = None,
    issuer_name: x509.Name | None = None,
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_name or issuer.cert.subject)
        .last_update(NOW - DAY)
        .next_update(next_update)
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(NOW - DAY)
            .build()
        )
    return builder.sign(signer or issuer.key, hashes.SHA256())


def make_ca_with_key_usage(subject: str, issuer: Issued | None, usage: x509.KeyUsage | None) -> Issued:  # fmt: skip
    """A CA whose keyUsage is ``usage`` (None: no keyUsage extension at all)."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(issuer.cert.subject if issuer else name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())
        builder = builder.add_extension(aki, False)
    if usage:
        builder = builder.add_extension(usage, critical=True)
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Issued(cert, key, (cert,))


def cert_signing_only() -> x509.KeyUsage:
    return x509.KeyUsage(True, False, False, False, False, True, False, False, False)


@pytest.fixture(scope="module")
def verifier(pki: TestPKI) -> ChainVerifier:
    return ChainVerifier(TrustStore((pki.root.cert,)))


def reason_of(verifier: ChainVerifier, p: PeerCertificate, **kw: dt.datetime) -> CertificateError:
    with pytest.raises(CertificateError) as info:
        verifier.verify(p, **kw)
    return info.value


# valid chains ---------------------------------------------------------------------------------


def test_valid_chain_through_an_intermediate_verifies_leaf_to_anchor(
    pki: TestPKI, verifier: ChainVerifier
) -> None:
    p = peer(*pki.client.chain)
    result = verifier.verify(p)
    assert result == VerifiedChain(p, (pki.client.cert, pki.intermediate.cert, pki.root.cert))


def test_a_presented_root_is_harmless(pki: TestPKI, verifier: ChainVerifier) -> None:
    chain = verifier.verify(peer(*pki.client.chain, pki.root.cert)).chain
    assert chain == (pki.client.cert, pki.intermediate.cert, pki.root.cert)


def test_client_certificate_without_san_verifies(pki: TestPKI, verifier: ChainVerifier) -> None:
    leaf = make_leaf(pki.intermediate, "no-san-client")
    assert not leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).critical
    assert verifier.verify(peer(*leaf.chain)).chain[0] == leaf.cert


def test_client_certificate_without_eku_verifies_as_rfc5280_any_purpose(
    pki: TestPKI, verifier: ChainVerifier
) -> None:
    leaf = make_leaf(pki.intermediate, "no-eku-client", eku=())
    assert verifier.verify(peer(*leaf.chain)).chain[0] == leaf.cert


def test_an_intermediate_anchor_ends_the_chain(pki: TestPKI) -> None:
    verifier = ChainVerifier(TrustStore((pki.intermediate.cert,)))
    assert verifier.verify(peer(pki.client.cert)).chain == (pki.client.cert, pki.intermediate.cert)


# failure reasons ------------------------------------------------------------------------------


def test_missing_intermediate_is_chain_incomplete(pki: TestPKI, verifier: ChainVerifier) -> None:
    error = reason_of(verifier, peer(pki.client.cert))
    assert error.reason is Reason.CHAIN_INCOMPLETE
    assert str(error) == (
        "client certificate 'CN=client-1,O=certbound tests': issuer 'CN=Test Issuing CA,"
        "O=certbound tests' of 'CN=client-1,O=certbound tests' was not presented and is not"
        " a trust anchor"
    )


def test_foreign_leaf_without_its_ca_is_chain_incomplete_too(
    pki: TestPKI, verifier: ChainVerifier
) -> None:
    error = reason_of(verifier, peer(pki.foreign_client.cert))
    assert error.reason is Reason.CHAIN_INCOMPLETE
    assert "issuer 'CN=Foreign Root CA,O=certbound tests'" in str(error)


def test_anchor_without_key_usage_is_refused_by_the_profile() -> None:
    root = make_ca_with_key_usage("Legacy Root", None, None)
    leaf = make_leaf(make_ca("Issuing CA", issuer=root), "client")
    error = reason_of(ChainVerifier(TrustStore((root.cert,))), peer(*leaf.chain))
    assert error.reason is Reason.INVALID
    assert "invalid extension: 2.5.29.15" in str(error)


def test_chain_to_a_foreign_root_is_untrusted(pki: TestPKI, verifier: ChainVerifier) -> None:
    error = reason_of(verifier, peer(pki.foreign_client.cert, pki.foreign_root.cert))
    assert error.reason is Reason.UNTRUSTED
    assert "ends at self-signed 'CN=Foreign Root CA,O=certbound tests'" in str(error)


def test_self_signed_client_certificate_is_untrusted(pki: TestPKI, verifier: ChainVerifier) -> None:
    error = reason_of(verifier, peer(pki.self_signed.cert))
    assert error.reason is Reason.UNTRUSTED
    assert "self-signed 'CN=self-signed-client,O=certbound tests'" in str(error)


def test_self_signed_ca_true_trap_is_not_accepted(pki: TestPKI, verifier: ChainVerifier) -> None:
    assert reason_of(verifier, peer(pki.self_signed_ca_trap.cert)).reason is Reason.UNTRUSTED
    signed_by_trap = make_leaf(pki.self_signed_ca_trap, "admin")
    error = reason_of(verifier, peer(signed_by_trap.cert, pki.self_signed_ca_trap.cert))
    assert error.reason is Reason.UNTRUSTED
    # Even a misconfigured store holding the trap does not accept the trap itself as a client.
    misconfigured = ChainVerifier(TrustStore((pki.root.cert, pki.self_signed_ca_trap.cert)))
    error = reason_of(misconfigured, peer(pki.self_signed_ca_trap.cert))
    assert error.reason is Reason.INVALID
    assert "basicConstraints.cA must not be asserted" in str(error)


def test_ca_certificate_presented_as_client_is_invalid(
    pki: TestPKI, verifier: ChainVerifier
) -> None:
    error = reason_of(verifier, peer(pki.intermediate.cert))
    assert error.reason is Reason.INVALID
    assert str(error).startswith("client certificate 'CN=Test Issuing CA,O=certbound tests': ")


def test_leaf_with_a_forged_issuer_signature_is_untrusted(
    pki: TestPKI, verifier: ChainVerifier
) -> None:
    impostor = make_ca(pki.intermediate.cert.subject)  # same name, another key
    forged = make_leaf(impostor, "client-1")
    error = reason_of(verifier, peer(forged.cert, pki.intermediate.cert))
    assert error.reason is Reason.UNTRUSTED
    assert "the signature of 'CN=client-1,O=certbound tests' does not verify" in str(error)


def test_expired_leaf_is_expired(pki: TestPKI, verifier: ChainVerifier) -> None:
    error = reason_of(verifier, peer(*pki.expired.chain))
    assert error.reason is Reason.EXPIRED
    assert str(error).startswith(
        "client certificate 'CN=client-expired,O=certbound tests': "
        "'CN=client-expired,O=certbound tests' expired at "
    )


def test_not_yet_valid_leaf_is_not_yet_valid(pki: TestPKI, verifier: ChainVerifier) -> None:
    future = make_leaf(pki.intermediate, "future", not_before=NOW + DAY, not_after=NOW + 9 * DAY)
    error = reason_of(verifier, peer(*future.chain))
    assert error.reason is Reason.NOT_YET_VALID
    assert "'CN=future,O=certbound tests' not yet valid at " in str(error)


def test_expired_intermediate_is_expired_and_named(pki: TestPKI, verifier: ChainVerifier) -> None:
    old = make_ca("Old Issuing CA", issuer=pki.root, not_before=NOW - 9 * DAY, not_after=NOW - DAY)
    leaf = make_leaf(old, "client-of-old-ca", not_before=NOW - 2 * DAY)
    error = reason_of(verifier, peer(*leaf.chain))
    assert error.reason is Reason.EXPIRED
    assert "'CN=Old Issuing CA,O=certbound tests' expired at " in str(error)


def test_expired_anchor_is_expired_and_named() -> None:
    root = make_ca("Old Root", not_before=NOW - 9 * DAY, not_after=NOW - DAY)
    leaf = make_leaf(root, "client-of-old-root", not_before=NOW - 2 * DAY)
    error = reason_of(ChainVerifier(TrustStore((root.cert,))), peer(leaf.cert))
    assert error.reason is Reason.EXPIRED
    assert "'CN=Old Root,O=certbound tests' expired at " in str(error)


def test_server_auth_only_certificate_is_wrong_eku(pki: TestPKI, verifier: ChainVerifier) -> None:
    error = reason_of(verifier, peer(*pki.wrong_eku.chain))
    assert error.reason is Reason.WRONG_EKU
    assert "required EKU not found" in str(error)


def test_ca_restricted_to_server_auth_is_wrong_eku(pki: TestPKI, verifier: ChainVerifier) -> None:
    server_ca = make_leaf(pki.root, "Server CA", ca=True, eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    leaf = make_leaf(server_ca, "client-of-server-ca")
    assert reason_of(verifier, peer(leaf.cert, server_ca.cert)).reason is Reason.WRONG_EKU


def test_chain_longer_than_max_depth_is_invalid(pki: TestPKI) -> None:
    verifier = ChainVerifier(TrustStore((pki.root.cert,)), max_chain_depth=1)
    upper = make_ca("Upper CA", issuer=pki.root)
    lower = make_ca("Lower CA", issuer=upper)
    leaf = make_leaf(lower, "deep-client")
    assert ChainVerifier(TrustStore((pki.root.cert,))).verify(peer(*leaf.chain))
    error = reason_of(verifier, peer(*leaf.chain))
    assert error.reason is Reason.INVALID
    assert "exceeds max depth" in str(error)


def test_subject_with_control_characters_is_logged_on_one_line(
    pki: TestPKI, verifier: ChainVerifier
) -> None:
    leaf = make_leaf(pki.intermediate, "evil\nINFO forged log line")
    error = reason_of(verifier, peer(leaf.cert))
    assert "\n" not in str(error)
    assert "evil\\nINFO forged log line" in str(error)


def test_wire_values_are_lowercase_names() -> None:
    assert [r.value for r in Reason] == [r.name.lower() for r in Reason]


# the verification time -------------------------------------------------------------------------


def test_at_is_respected(pki: TestPKI, verifier: ChainVerifier) -> None:
    root = make_ca("Old Root", not_before=NOW - 90 * DAY)
    expired = make_leaf(root, "expired", not_before=NOW - 60 * DAY, not_after=NOW - 30 * DAY)
    old_verifier = ChainVerifier(TrustStore((root.cert,)))
    assert reason_of(old_verifier, peer(expired.cert)).reason is Reason.EXPIRED
    assert old_verifier.verify(peer(expired.cert), at=NOW - 45 * DAY).chain[0] == expired.cert
    error = reason_of(verifier, peer(*pki.client.chain), at=NOW + 60 * DAY)
    assert error.reason is Reason.EXPIRED
    error = reason_of(verifier, peer(*pki.client.chain), at=NOW - 2 * DAY)
    assert error.reason is Reason.NOT_YET_VALID


def test_naive_verification_time_is_rejected(pki: TestPKI, verifier: ChainVerifier) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verifier.verify(peer(*pki.client.chain), at=dt.datetime(2030, 1, 1))


@pytest.mark.parametrize("depth", [0, 256])
def test_max_chain_depth_out_of_range_is_rejected(pki: TestPKI, depth: int) -> None:
    with pytest.raises(ValueError, match=r"max_chain_depth must be 1\.\.255"):
        ChainVerifier(TrustStore((pki.root.cert,)), max_chain_depth=depth)


def test_unknown_crl_policy_is_rejected(pki: TestPKI) -> None:
    with pytest.raises(ValueError, match="crl_policy must be 'strict' or 'soft'"):
        ChainVerifier(TrustStore((pki.root.cert,)), crl_policy="lenient")  # type: ignore[arg-type]


# CRL revocation -------------------------------------------------------------------------------


def with_crls(pki: TestPKI, *crls: x509.CertificateRevocationList, **kw: str) -> ChainVerifier:
    return ChainVerifier(TrustStore((pki.root.cert,), crls), **kw)  # type: ignore[arg-type]


def test_leaf_listed_in_the_intermediates_crl_is_revoked(pki: TestPKI) -> None:
    verifier = with_crls(pki, make_crl(pki.intermediate, (pki.other_client.cert,)))
    error = reason_of(verifier, peer(*pki.other_client.chain))
    assert error.reason is Reason.REVOKED
    assert str(error) == (
        f"certificate 'CN=client-2,O=certbound tests': serial {pki.other_client.cert.serial_number:x}"
        " is listed in the CRL of 'CN=Test Issuing CA,O=certbound tests'"
    )
    assert verifier.verify(peer(*pki.client.chain)).chain[0] == pki.client.cert


def test_intermediate_listed_in_the_roots_crl_revokes_its_leaves(pki: TestPKI) -> None:
    verifier = with_crls(pki, make_crl(pki.root, (pki.intermediate.cert,)))
    error = reason_of(verifier, peer(*pki.client.chain))
    assert error.reason is Reason.REVOKED
    assert "certificate 'CN=Test Issuing CA,O=certbound tests': serial" in str(error)


def test_crl_signed_by_another_key_is_not_trusted(pki: TestPKI) -> None:
    forged = make_crl(pki.intermediate, (pki.client.cert,), signer=ec.generate_private_key(ec.SECP256R1()))  # fmt: skip
    verifier = with_crls(pki, forged)
    assert verifier.verify(peer(*pki.client.chain)).chain[0] == pki.client.cert


def test_crl_of_another_issuer_is_not_consulted(pki: TestPKI) -> None:
    verifier = with_crls(pki, make_crl(pki.foreign_root, (pki.client.cert,)))
    assert verifier.verify(peer(*pki.client.chain)).chain[0] == pki.client.cert


def test_crl_naming_another_issuer_is_not_consulted_even_with_the_right_key(pki: TestPKI) -> None:
    renamed = make_crl(pki.intermediate, (pki.client.cert,), issuer_name=name("Other CA"))
    assert renamed.is_signature_valid(pki.intermediate.cert.public_key())
    verifier = with_crls(pki, renamed)
    assert verifier.verify(peer(*pki.client.chain)).chain[0] == pki.client.cert


def test_crl_from_an_issuer_without_crl_sign_is_not_trusted(pki: TestPKI) -> None:
    ca = make_ca_with_key_usage("No cRLSign CA", pki.root, cert_signing_only())
    leaf = make_leaf(ca, "client-of-no-crlsign-ca")
    verifier = with_crls(pki, make_crl(ca, (leaf.cert,)))
    assert verifier.verify(peer(leaf.cert, ca.cert)).chain[0] == leaf.cert


def test_stale_crl_fails_closed_by_default(pki: TestPKI) -> None:
    verifier = with_crls(pki, make_crl(pki.intermediate, next_update=NOW - DAY))
    error = reason_of(verifier, peer(*pki.client.chain))
    assert error.reason is Reason.UNTRUSTED
    assert str(error) == (
        "certificate 'CN=client-1,O=certbound tests': revocation status unknown: every CRL of"
        " 'CN=Test Issuing CA,O=certbound tests' is past its nextUpdate"
    )


def test_stale_crl_is_accepted_when_a_fresh_one_is_present(pki: TestPKI) -> None:
    stale = make_crl(pki.intermediate, next_update=NOW - DAY)
    verifier = with_crls(pki, stale, make_crl(pki.intermediate))
    assert verifier.verify(peer(*pki.client.chain)).chain[0] == pki.client.cert


def test_stale_crl_is_ignored_under_soft_policy_but_still_revokes(pki: TestPKI) -> None:
    stale = make_crl(pki.intermediate, (pki.other_client.cert,), next_update=NOW - DAY)
    verifier = with_crls(pki, stale, crl_policy="soft")
    assert verifier.verify(peer(*pki.client.chain)).chain[0] == pki.client.cert
    assert reason_of(verifier, peer(*pki.other_client.chain)).reason is Reason.REVOKED


def test_crl_freshness_follows_at(pki: TestPKI) -> None:
    verifier = with_crls(pki, make_crl(pki.intermediate, next_update=NOW + DAY))
    assert verifier.verify(peer(*pki.client.chain), at=NOW).chain[0] == pki.client.cert
    error = reason_of(verifier, peer(*pki.client.chain), at=NOW + 2 * DAY)
    assert error.reason is Reason.UNTRUSTED


# TrustStore -----------------------------------------------------------------------------------


def test_from_pem_reads_a_bundle_and_pem_or_der_crls(pki: TestPKI) -> None:
    crl_a, crl_b = make_crl(pki.root), make_crl(pki.intermediate)
    store = TrustStore.from_pem(
        pem_bundle(pki.root.cert, pki.intermediate.cert),
        [crl_a.public_bytes(serialization.Encoding.PEM), crl_b.public_bytes(serialization.Encoding.DER)],
    )  # fmt: skip
    assert store == TrustStore((pki.root.cert, pki.intermediate.cert), (crl_a, crl_b))


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        (b"", "no PEM certificates could be read"),
        (b"garbage", "no PEM certificates could be read"),
        (b"-----BEGIN CERTIFICATE-----\nMIIB\n", "no PEM certificates could be read"),
        (b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "no PEM certificates"),
    ],
)
def test_from_pem_rejects_garbage_with_a_message(bundle: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrustStore.from_pem(bundle)


def test_from_pem_rejects_a_truncated_bundle(pki: TestPKI) -> None:
    pem = pem_bundle(pki.root.cert)
    with pytest.raises(ValueError, match="no PEM certificates could be read"):
        TrustStore.from_pem(pem[: len(pem) // 2])


def test_from_pem_rejects_a_corrupted_certificate(pki: TestPKI) -> None:
    lines = pem_bundle(pki.root.cert).split(b"\n")
    lines[3] = b"A" * len(lines[3])
    with pytest.raises(ValueError, match="no PEM certificates could be read"):
        TrustStore.from_pem(b"\n".join(lines))


def test_from_pem_rejects_a_non_ca_anchor(pki: TestPKI) -> None:
    with pytest.raises(
        ValueError, match="trust anchor 'CN=client-1,O=certbound tests' is not a CA"
    ):
        TrustStore.from_pem(pem_bundle(pki.root.cert, pki.client.cert))


@pytest.mark.parametrize(
    "extensions",
    [
        [],  # no basicConstraints at all (e.g. a v1-style root)
        [x509.UnrecognizedExtension(ExtensionOID.BASIC_CONSTRAINTS, b"junk")],  # malformed
    ],
)
def test_anchor_without_valid_basic_constraints_is_not_a_ca(
    extensions: list[x509.ExtensionType],
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name("Broken CA"))
        .issuer_name(name("Broken CA"))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + DAY)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=True)
    cert = builder.sign(key, hashes.SHA256())
    with pytest.raises(ValueError, match="'CN=Broken CA,O=certbound tests' is not a CA"):
        TrustStore((cert,))


def test_empty_trust_store_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one CA certificate"):
        TrustStore(())


@pytest.mark.parametrize("crl", [b"", b"garbage", b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"])  # fmt: skip
def test_from_pem_rejects_a_bad_crl_with_its_number(pki: TestPKI, crl: bytes) -> None:
    good = make_crl(pki.root).public_bytes(serialization.Encoding.DER)
    with pytest.raises(ValueError, match="CRL #2 is not a PEM or DER CRL"):
        TrustStore.from_pem(pem_bundle(pki.root.cert), [good, crl])
