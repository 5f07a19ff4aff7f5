"""Server TLS contexts, dynamic trust and trust switching, over real in-memory handshakes.

Every handshake here is OpenSSL talking to OpenSSL through memory BIOs (no sockets): the server
side is built by ``certbound.server.tls``; the client side is a stdlib ``SSLContext``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certbound.server.tls import (
    DynamicServerContext,
    DynamicTrust,
    TrustMaterial,
    build_server_context,
    require_self_signed_leaf,
    switching_context,
)
from testpki import NOW, Issued, make_leaf, name

# OpenSSL X509_V_ERR_* codes (stable across versions, unlike their messages)
UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
CERT_HAS_EXPIRED = 10
DEPTH_ZERO_SELF_SIGNED_CERT = 18
INVALID_PURPOSE = 26


@dataclass
class Outcome:
    server: ssl.SSLObject
    client: ssl.SSLObject
    server_error: ssl.SSLError | None = None
    client_error: ssl.SSLError | None = None

    @property
    def ok(self) -> bool:
        return self.server_error is None and self.client_error is None


def _step(obj: ssl.SSLObject) -> tuple[bool, ssl.SSLError | None]:
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        return False, None
    except ssl.SSLError as exc:
        return False, exc
    return True, None


def handshake(
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
    *,
    server_hostname: str | None = "localhost",
    session: ssl.SSLSession | None = None,
) -> Outcome:
    """Run a full handshake in memory; a TLS 1.3 client finishes before the server judges it."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_hostname, session=session)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    out = Outcome(server, client)
    client_done = server_done = False
    for _ in range(10):
        if not client_done and out.client_error is None:
            client_done, out.client_error = _step(client)
        s_in.write(c_out.read())
        if not server_done and out.server_error is None:
            server_done, out.server_error = _step(server)
        c_in.write(s_out.read())
        if (client_done and server_done) or out.server_error or out.client_error:
            break
    if out.client_error is None:  # TLS 1.3: the client learns of a rejection on its first read
        if out.server_error is None:
            server.write(b"ping")
        c_in.write(s_out.read())
        try:
            client.read(4)
        except ssl.SSLError as exc:
            out.client_error = exc
    return out


@pytest.fixture(scope="module")
def files(pki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tls-context")
    out: dict[str, Path] = {}
    for stem in ("server", "client", "expired", "wrong_eku", "foreign_client", "self_signed"):
        out[f"{stem}.pem"], out[f"{stem}.key"] = getattr(pki, stem).write(d, stem)
    (d / "root.pem").write_bytes(pki.root.pem)
    out["root.pem"], out["dir"] = d / "root.pem", d
    return out


def server_ctx(
    files: dict[str, Path], trust: TrustMaterial | None, *, required: bool = True
) -> ssl.SSLContext:
    return build_server_context(
        files["server.pem"], files["server.key"], trust=trust, require_client_cert=required
    )


def client_ctx(files: dict[str, Path], stem: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=files["root.pem"])
    if stem is not None:
        ctx.load_cert_chain(files[f"{stem}.pem"], files[f"{stem}.key"])
    return ctx


def client_for(files: dict[str, Path], issued: Issued, stem: str) -> ssl.SSLContext:
    cert, key = issued.write(files["dir"], stem)
    ctx = client_ctx(files, None)
    ctx.load_cert_chain(cert, key)
    return ctx


@pytest.fixture(scope="module")
def root_trust(pki) -> TrustMaterial:
    return TrustMaterial((pki.root.cert,))


# --- the context ----------------------------------------------------------------------------


def test_context_is_tls12_plus_with_ecdhe_aead_suites_only(files, root_trust) -> None:
    ctx = server_ctx(files, root_trust)
    assert ctx.minimum_version is ssl.TLSVersion.TLSv1_2
    tls12 = [c for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12
    assert all(c["kea"] == "kx-ecdhe" and c["aead"] for c in tls12)
    assert all(c["aead"] for c in ctx.get_ciphers())


def test_context_options_are_hardened_and_tickets_are_off_by_default(files, root_trust) -> None:
    ctx = server_ctx(files, root_trust)
    for option in (ssl.OP_NO_COMPRESSION, ssl.OP_CIPHER_SERVER_PREFERENCE, ssl.OP_NO_TICKET):
        assert ctx.options & option
    assert not ctx.verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN


def test_session_tickets_can_be_turned_on(files, root_trust) -> None:
    ctx = build_server_context(
        files["server.pem"],
        files["server.key"],
        trust=root_trust,
        require_client_cert=True,
        session_tickets=True,
    )
    assert not ctx.options & ssl.OP_NO_TICKET


@pytest.mark.parametrize(
    ("required", "mode"), [(True, ssl.CERT_REQUIRED), (False, ssl.CERT_OPTIONAL)]
)
def test_verify_mode_follows_require_client_cert(files, root_trust, required, mode) -> None:
    assert server_ctx(files, root_trust, required=required).verify_mode is mode


def test_encrypted_key_loads_with_its_password(files, pki, root_trust, tmp_path) -> None:
    key = tmp_path / "server-enc.key"
    key.write_bytes(
        pki.server.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    ctx = build_server_context(
        files["server.pem"], key, trust=root_trust, require_client_cert=True, key_password=b"s3cret"
    )
    assert handshake(ctx, client_ctx(files, "client")).ok
    with pytest.raises(ssl.SSLError):
        build_server_context(
            files["server.pem"], key, trust=root_trust, require_client_cert=True, key_password=b"x"
        )


# --- handshakes -------------------------------------------------------------------------------


def test_trusted_client_completes_tls13_handshake(files, root_trust) -> None:
    out = handshake(server_ctx(files, root_trust), client_ctx(files, "client"))
    assert out.ok
    assert out.server.version() == "TLSv1.3"
    assert out.server.getpeercert(binary_form=True) is not None


@pytest.mark.parametrize(
    ("stem", "reason", "verify_code"),
    [
        (None, "PEER_DID_NOT_RETURN_A_CERTIFICATE", None),
        ("foreign_client", "CERTIFICATE_VERIFY_FAILED", UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
        ("expired", "CERTIFICATE_VERIFY_FAILED", CERT_HAS_EXPIRED),
        ("wrong_eku", "CERTIFICATE_VERIFY_FAILED", INVALID_PURPOSE),
        ("self_signed", "CERTIFICATE_VERIFY_FAILED", DEPTH_ZERO_SELF_SIGNED_CERT),
    ],
)
def test_required_listener_rejects_bad_client_certificates(
    files, root_trust, stem, reason, verify_code
) -> None:
    out = handshake(server_ctx(files, root_trust), client_ctx(files, stem))
    assert out.server_error is not None
    assert out.server_error.reason == reason
    assert getattr(out.server_error, "verify_code", None) == verify_code
    assert out.client_error is not None  # TLS 1.3: seen on the client's first read


def test_optional_listener_accepts_no_certificate_and_a_trusted_one(files, root_trust) -> None:
    ctx = server_ctx(files, root_trust, required=False)
    no_cert = handshake(ctx, client_ctx(files, None))
    assert no_cert.ok
    assert no_cert.server.getpeercert(binary_form=True) is None
    assert handshake(ctx, client_ctx(files, "client")).ok


def test_optional_listener_rejects_an_untrusted_certificate(files, root_trust) -> None:
    out = handshake(server_ctx(files, root_trust, required=False), client_ctx(files, "self_signed"))
    assert out.server_error is not None
    assert out.server_error.reason == "CERTIFICATE_VERIFY_FAILED"


def test_optional_listener_with_empty_trust_still_requests_a_certificate(files) -> None:
    # OpenSSL sends a CertificateRequest (empty CA list) anyway: a client that has a certificate
    # sends it, and it cannot verify. Only clients without a certificate get through.
    ctx = server_ctx(files, None, required=False)
    with_cert = handshake(ctx, client_ctx(files, "client"))
    assert with_cert.server_error is not None
    assert with_cert.server_error.reason == "CERTIFICATE_VERIFY_FAILED"
    assert handshake(ctx, client_ctx(files, None)).ok


def test_tls11_client_is_refused(files, root_trust) -> None:
    client = client_ctx(files, "client")
    client.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client.minimum_version = ssl.TLSVersion.TLSv1_1
        client.maximum_version = ssl.TLSVersion.TLSv1_1
    out = handshake(server_ctx(files, root_trust), client)
    assert out.server_error is not None
    assert out.server_error.reason == "UNSUPPORTED_PROTOCOL"


def test_tls12_client_with_only_cbc_suites_is_refused(files, root_trust) -> None:
    client = client_ctx(files, "client")
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    client.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:AES128-SHA")
    out = handshake(server_ctx(files, root_trust), client)
    assert out.server_error is not None
    assert out.server_error.reason == "NO_SHARED_CIPHER"


def test_tls12_client_gets_an_ecdhe_aead_suite(files, root_trust) -> None:
    client = client_ctx(files, "client")
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    out = handshake(server_ctx(files, root_trust), client)
    assert out.ok
    cipher = out.server.cipher()
    assert cipher is not None
    assert cipher[1] == "TLSv1.2"
    assert cipher[0].startswith("ECDHE-")
    assert "GCM" in cipher[0] or "CHACHA20" in cipher[0]


# --- trust material ---------------------------------------------------------------------------


def test_trust_material_round_trips_pem(files, pki) -> None:
    material = TrustMaterial.from_pem_file(files["root.pem"])
    assert material.certificates == (pki.root.cert,)
    assert material.pem == pki.root.pem.decode()
    assert TrustMaterial.from_pem(pki.root.pem + pki.foreign_root.pem).certificates == (
        pki.root.cert,
        pki.foreign_root.cert,
    )


def test_trust_material_refuses_a_bundle_without_certificates() -> None:
    with pytest.raises(ValueError, match="PEM"):
        TrustMaterial.from_pem(b"not a certificate")


# --- what may be registered -------------------------------------------------------------------


NETSCAPE_CERT_TYPE = x509.ObjectIdentifier("2.16.840.1.113730.1.1")


def _self_signed_without_bc(*, key_cert_sign: bool, netscape_ca: bool = False) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name("no-bc"))
        .issuer_name(name("no-bc"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
    )
    if key_cert_sign:
        usage = dict.fromkeys(
            (
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "crl_sign",
                "encipher_only",
                "decipher_only",
            ),
            False,
        )
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, **usage), critical=True
        )
    if netscape_ca:  # nsCertType BIT STRING with sslCA (bit 5) set
        ext = x509.UnrecognizedExtension(NETSCAPE_CERT_TYPE, b"\x03\x02\x02\x04")
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(key, hashes.SHA256())


def test_ca_true_self_signed_certificate_is_refused(pki) -> None:
    trust = DynamicTrust([pki.root.cert])
    with pytest.raises(ValueError, match="act as a CA"):
        trust.add(pki.self_signed_ca_trap.cert)
    assert trust.generation == 0
    assert trust.registered == frozenset()


def test_key_cert_sign_without_basic_constraints_is_refused() -> None:
    with pytest.raises(ValueError, match="act as a CA"):
        require_self_signed_leaf(_self_signed_without_bc(key_cert_sign=True))


def test_netscape_cert_type_without_basic_constraints_is_refused() -> None:
    with pytest.raises(ValueError, match="act as a CA"):
        require_self_signed_leaf(_self_signed_without_bc(key_cert_sign=False, netscape_ca=True))


def test_self_signed_without_basic_constraints_or_key_cert_sign_is_accepted() -> None:
    require_self_signed_leaf(_self_signed_without_bc(key_cert_sign=False))


def test_ca_issued_leaf_is_refused_as_not_self_signed(pki) -> None:
    with pytest.raises(ValueError, match="self-signed"):
        DynamicTrust().add(pki.client.cert)


def test_replace_all_checks_every_certificate_before_changing_anything(pki) -> None:
    trust = DynamicTrust()
    trust.add(pki.self_signed.cert)
    with pytest.raises(ValueError, match="act as a CA"):
        trust.replace_all([pki.self_signed.cert, pki.self_signed_ca_trap.cert])
    assert trust.registered == frozenset({pki.self_signed.cert})
    assert trust.generation == 1


def test_generation_changes_only_when_the_registered_set_changes(pki) -> None:
    trust = DynamicTrust([pki.root.cert])
    trust.add(pki.self_signed.cert)
    trust.add(pki.self_signed.cert)
    assert trust.generation == 1
    trust.replace_all({pki.self_signed.cert})
    trust.discard(make_leaf(None, "never-registered").cert)
    assert trust.generation == 1
    trust.discard(pki.self_signed.cert)
    assert trust.generation == 2
    snapshot = trust.snapshot()
    assert snapshot.generation == 2
    assert snapshot.certificates == (pki.root.cert,)


# --- switching trust per handshake ------------------------------------------------------------


@pytest.fixture
def dynamic(files, pki) -> tuple[DynamicTrust, DynamicServerContext]:
    trust = DynamicTrust([pki.root.cert])
    provider = DynamicServerContext(
        files["server.pem"], files["server.key"], trust=trust, require_client_cert=True
    )
    return trust, provider


def test_dynamic_context_is_cached_per_generation(dynamic, pki) -> None:
    trust, provider = dynamic
    first = provider()
    assert provider() is first
    trust.add(pki.self_signed.cert)
    second = provider()
    assert second is not first
    assert provider() is second
    assert second.verify_mode is ssl.CERT_REQUIRED


@pytest.mark.parametrize("sni", ["localhost", None], ids=["sni", "no-sni"])
def test_registration_and_removal_apply_to_new_handshakes(files, dynamic, pki, sni) -> None:
    trust, provider = dynamic
    listener = switching_context(provider)
    client = client_ctx(files, "self_signed")
    client.check_hostname = sni is not None
    assert not handshake(listener, client, server_hostname=sni).ok
    trust.add(pki.self_signed.cert)
    assert handshake(listener, client, server_hostname=sni).ok
    assert handshake(listener, client_ctx(files, "client"), server_hostname=sni).ok  # CA kept
    trust.discard(pki.self_signed.cert)
    out = handshake(listener, client, server_hostname=sni)
    assert out.server_error is not None
    assert out.server_error.reason == "CERTIFICATE_VERIFY_FAILED"


def test_sni_callback_runs_when_the_client_sends_no_server_name(files, root_trust) -> None:
    seen: list[str | None] = []
    ctx = server_ctx(files, root_trust)
    ctx.sni_callback = lambda _obj, server_name, _ctx: seen.append(server_name)
    client = client_ctx(files, "client")
    client.check_hostname = False
    assert handshake(ctx, client, server_hostname=None).ok
    assert handshake(ctx, client_ctx(files, "client"), server_hostname="localhost").ok
    assert seen == [None, "localhost"]


def test_failing_context_provider_aborts_the_handshake_and_is_logged(
    files, root_trust, caplog: pytest.LogCaptureFixture
) -> None:
    contexts = [server_ctx(files, root_trust)]

    def provider() -> ssl.SSLContext:
        if contexts:
            return contexts.pop()
        raise OSError("key file gone")

    listener = switching_context(provider)
    with caplog.at_level(logging.ERROR, logger="certbound.tls"):
        out = handshake(listener, client_ctx(files, "client"))
    assert out.server_error is not None
    assert [r.event for r in caplog.records] == ["tls_context_unavailable"]  # type: ignore[attr-defined]


def test_ca_false_registered_certificate_cannot_sign_another_leaf(files, pki) -> None:
    trust = DynamicTrust([pki.root.cert])
    trust.add(pki.self_signed.cert)
    forged = make_leaf(pki.self_signed, "client-1")
    listener = switching_context(
        DynamicServerContext(
            files["server.pem"], files["server.key"], trust=trust, require_client_cert=True
        )
    )
    out = handshake(listener, client_for(files, forged, "forged-by-leaf"))
    assert out.server_error is not None
    assert getattr(out.server_error, "verify_message", None) == "invalid CA certificate"


def test_ca_true_anchor_would_accept_a_forged_subject_which_is_why_it_is_refused(
    files, pki
) -> None:
    # The trap (STACK.md): bypass DynamicTrust and put the CA:TRUE self-signed cert in the store.
    forged = make_leaf(pki.self_signed_ca_trap, "client-1")
    ctx = server_ctx(files, TrustMaterial((pki.root.cert, pki.self_signed_ca_trap.cert)))
    assert handshake(ctx, client_for(files, forged, "forged-by-ca")).ok


# --- session resumption ---------------------------------------------------------------------


def _session_after_close(out: Outcome) -> ssl.SSLSession:
    """Read the TLS 1.3 tickets, then close cleanly (OpenSSL drops unclean sessions)."""
    for side in (out.server, out.client):
        with contextlib.suppress(ssl.SSLWantReadError):
            side.unwrap()
    session = out.client.session
    assert session is not None
    return session


def test_resumed_session_keeps_the_chain_and_outlives_a_trust_removal(files, dynamic, pki) -> None:
    # Why the app must re-check registered certificates: a resumed session is not re-verified.
    trust, provider = dynamic
    trust.add(pki.self_signed.cert)
    listener = switching_context(provider)
    client = client_ctx(files, "self_signed")
    first = handshake(listener, client)
    assert first.ok
    session = _session_after_close(first)
    trust.discard(pki.self_signed.cert)
    resumed = handshake(listener, client, session=session)
    assert resumed.ok
    assert resumed.server.session_reused
    assert resumed.server.getpeercert(binary_form=True) == pki.self_signed.cert.public_bytes(
        serialization.Encoding.DER
    )
    assert not handshake(listener, client).ok  # a full handshake is refused


@pytest.mark.parametrize(("tickets", "chain_after_resumption"), [(False, 2), (True, 1)])
def test_a_resumed_session_carries_the_chain_from_the_cache_but_only_the_leaf_from_a_ticket(
    files, pki, tickets: bool, chain_after_resumption: int
) -> None:
    """tls.session_tickets = false (the default): the cached session keeps the chain the client
    sent (leaf + intermediate), so the app re-validates it as after a full handshake. Stateless
    tickets carry the leaf only (docs: trust.intermediates is needed then)."""
    from certbound.server._tlsproto import peer_chain_pem

    ctx = build_server_context(
        files["server.pem"], files["server.key"], trust=TrustMaterial((pki.root.cert,)),
        require_client_cert=True, session_tickets=tickets,
    )  # fmt: skip
    client = client_ctx(files, "client")
    first = handshake(ctx, client)
    assert first.ok and len(peer_chain_pem(first.server)) == 2
    resumed = handshake(ctx, client, session=_session_after_close(first))
    assert resumed.ok and resumed.server.session_reused
    chain = peer_chain_pem(resumed.server)
    assert len(chain) == chain_after_resumption
    assert chain[0] == peer_chain_pem(first.server)[0]  # the same leaf
