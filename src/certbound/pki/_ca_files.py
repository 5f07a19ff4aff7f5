"""The CA directory: ``root.pem root.key intermediate.pem intermediate.key chain.pem ca.json``.

:func:`ca_files` renders it, :func:`write_ca` writes it all-or-nothing and :func:`load_ca` reads
it back as the :class:`CertificateAuthority` that signs leaves (only the signing key is read).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

from certbound.core.mtls.certificate import x5t_s256
from certbound.pki._authority import CertificateAuthority, CreatedCa
from certbound.pki._errors import PkiError
from certbound.pki._load import load_certificates, read_file
from certbound.pki._output import OutputFile, check_outputs, write_outputs
from certbound.pki.keys import (
    PassphraseSource,
    encode_private_key,
    key_type_of,
    load_private_key,
    require_matching_key,
)

__all__ = ["CA_FILES", "ca_files", "check_ca_directory", "load_ca", "write_ca"]

CA_FILES = ("root.pem", "root.key", "intermediate.pem", "intermediate.key", "chain.pem", "ca.json")


def _describe(cert: x509.Certificate, stem: str) -> dict[str, object]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "certificate": f"{stem}.pem",
        "key": f"{stem}.key",
        "key_type": key_type_of(cert.public_key()).value,
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "serial": format(cert.serial_number, "x"),
        "x5t#S256": x5t_s256(cert),
    }


def ca_files(created: CreatedCa, passphrase: bytes | None) -> dict[str, bytes]:
    """File name → content for the CA directory; keys are PKCS#8, encrypted with ``passphrase``."""
    root = created.root.certificate
    files = {
        "root.pem": root.public_bytes(Encoding.PEM),
        "root.key": encode_private_key(created.root.private_key, passphrase),
    }
    meta: dict[str, object] = {"format": 1, "root": _describe(root, "root"), "intermediate": None}
    if created.intermediate is not None:
        inter = created.intermediate.certificate
        files["intermediate.pem"] = inter.public_bytes(Encoding.PEM)
        files["intermediate.key"] = encode_private_key(created.intermediate.private_key, passphrase)
        meta["intermediate"] = _describe(inter, "intermediate")
    files["chain.pem"] = b"".join(
        c.certificate.public_bytes(Encoding.PEM) for c in (created.intermediate, created.root) if c
    )
    meta["chain"] = "chain.pem"
    meta["encrypted_keys"] = passphrase is not None
    files["ca.json"] = (json.dumps(meta, indent=2) + "\n").encode()
    return files


def _load_ca_cert(path: Path) -> x509.Certificate:
    cert = load_certificates(read_file(path), label=str(path))[0]
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca = False
    if not ca:
        raise PkiError(f"{path} is not a CA certificate (basicConstraints CA:FALSE or missing)")
    return cert


def load_ca(directory: Path, passphrase: PassphraseSource | None) -> CertificateAuthority:
    """Read a CA directory written by :func:`ca_files`; only the signing key is loaded."""
    if not directory.is_dir():
        raise PkiError(f"CA directory {directory} does not exist")
    if not (directory / "root.pem").is_file():
        raise PkiError(f"{directory} has no root.pem: create it with `certbound pki init-ca`")
    root = _load_ca_cert(directory / "root.pem")
    inter: x509.Certificate | None = None
    if (directory / "intermediate.pem").exists():
        inter = _load_ca_cert(directory / "intermediate.pem")
        try:
            inter.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise PkiError(f"{directory}/intermediate.pem is not signed by root.pem") from exc
    stem = "intermediate" if inter is not None else "root"
    key_path = directory / f"{stem}.key"
    key = load_private_key(read_file(key_path), passphrase, label=str(key_path))
    require_matching_key(inter or root, key, label=str(key_path))
    return CertificateAuthority(root, inter, key)


def check_ca_directory(directory: Path, *, force: bool) -> None:
    """Before any key is made: the directory can be created, or its CA files may be replaced."""
    if directory.exists() and not directory.is_dir():
        raise PkiError(f"{directory} exists and is not a directory")
    if directory.is_dir():
        check_outputs([directory / f for f in CA_FILES], force=force)
    elif not directory.parent.is_dir():
        raise PkiError(f"output directory {directory.parent} does not exist")


def write_ca(
    directory: Path, created: CreatedCa, passphrase: bytes | None, *, force: bool
) -> dict[str, bytes]:
    """Create ``directory`` (0700) if needed and write the CA files together; return them.

    Keys are ``0600``. With ``force`` an old CA is replaced, stale intermediate files included.
    """
    check_ca_directory(directory, force=force)
    files = ca_files(created, passphrase)
    made_dir = not directory.exists()
    directory.mkdir(mode=0o700, exist_ok=True)
    try:
        outputs = [OutputFile(directory / n, d, n.endswith(".key")) for n, d in files.items()]
        write_outputs(outputs, force=force)
    except BaseException:
        if made_dir:
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
    for stale in set(CA_FILES) - set(files):
        (directory / stale).unlink(missing_ok=True)
    return files
