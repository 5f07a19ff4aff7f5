"""`certbound pki`: provision a CA and client/server certificates (a thin layer over certbound.pki).

Exit codes: 0 ok; 1 failure (a file system error); 2 bad input or usage (unreadable files, bad
names, durations or key types, wrong passphrase, refused overwrite); 3 the chain is not trusted
(`pki verify` only). Nothing is written unless every output can be written.

Passphrases come from a file (``--passphrase-file``), then an environment variable
(``CERTBOUND_KEY_PASSPHRASE``, ``CERTBOUND_CA_PASSPHRASE``, ``CERTBOUND_P12_PASSPHRASE``), then a
prompt when stdin is a terminal. Without any of them the command fails instead of hanging.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from rich.markup import escape
from rich.table import Table

from certbound.cli._common import EXIT_FAILURE, EXIT_USAGE, CliError, console, console_err
from certbound.core.mtls.certificate import (
    X5T_S256,
    CertificateSource,
    PeerCertificate,
    x5t_s256,
)
from certbound.core.mtls.verification import CertificateError, ChainVerifier, TrustStore
from certbound.pki import (
    CaSpec,
    CertificateDescription,
    IssuedCertificate,
    LeafSpec,
    NameConstraintsSpec,
    OutputFile,
    PkiError,
    Profile,
    SubjectAltNames,
    check_ca_directory,
    check_outputs,
    create_ca,
    describe_bundle,
    describe_certificate,
    export_der,
    export_jwk,
    export_pem,
    export_pkcs12,
    format_duration,
    has_expired,
    issue_certificate,
    leaf_files,
    load_ca,
    load_certificates,
    load_private_key,
    parse_duration,
    parse_key_type,
    parse_subject,
    read_file,
    renew_certificate,
    require_matching_key,
    self_signed_certificate,
    write_ca,
    write_outputs,
)
from certbound.pki._build import now_utc
from certbound.pki.keys import PassphraseSource

__all__ = ["EXIT_UNTRUSTED", "app"]

EXIT_UNTRUSTED = 3
KEY_ENV = "CERTBOUND_KEY_PASSPHRASE"
CA_ENV = "CERTBOUND_CA_PASSPHRASE"
P12_ENV = "CERTBOUND_P12_PASSPHRASE"

app = typer.Typer(
    help="Provision a CA and client/server certificates. Exit codes: 0 ok, 1 failure, "
    "2 bad input, 3 untrusted chain (verify).",
    no_args_is_help=True,
)

# Options shared by several commands.
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of text.")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")]
NoEncrypt = Annotated[
    bool, typer.Option("--no-encrypt", help="Write the new private key unencrypted.")
]
PassFile = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        help=f"File whose first line encrypts the new key (else ${KEY_ENV}, else a prompt).",
    ),
]
CaPassFile = Annotated[
    Path | None,
    typer.Option(
        "--ca-passphrase-file", help=f"File with the CA key's passphrase (else ${CA_ENV})."
    ),
]
CaDir = Annotated[Path, typer.Option("--ca", help="CA directory made by `pki init-ca`.")]
Out = Annotated[
    str,
    typer.Option("--out", help="Output prefix: writes PREFIX.key, PREFIX.pem, PREFIX-chain.pem."),
]
KeyTypeOpt = Annotated[
    str,
    typer.Option("--key-type", help="ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519."),
]
CaKeyType = Annotated[
    str,
    typer.Option(
        "--key-type",
        help="ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096 or ed25519 (an Ed25519 CA is "
        "refused by certbound's own chain verifier, which follows the web-PKI profile).",
    ),
]
Validity = Annotated[
    str, typer.Option("--validity", help="Lifetime: 30s, 15m, 24h, 90d, 52w, 1y or 1d12h.")
]
Subject = Annotated[
    str | None, typer.Option("--subject", help='RFC 4514 subject, e.g. "CN=client-1,O=Acme".')
]
Dns = Annotated[list[str] | None, typer.Option("--dns", help="dNSName SAN (repeatable).")]
Uri = Annotated[list[str] | None, typer.Option("--uri", help="URI SAN (repeatable).")]
Ip = Annotated[list[str] | None, typer.Option("--ip", help="iPAddress SAN (repeatable).")]
Email = Annotated[list[str] | None, typer.Option("--email", help="rfc822Name SAN (repeatable).")]
CertArg = Annotated[
    Path, typer.Argument(help="Certificate file: PEM (one or a bundle, leaf first) or DER.")
]


@contextlib.contextmanager
def _cli_errors() -> Iterator[None]:
    """Library errors become one-line CLI errors: bad input → 2, file system → 1."""
    try:
        yield
    except PkiError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise CliError(f"cannot write{where}: {exc.strerror or exc}", EXIT_FAILURE) from exc


def _stdin_is_tty() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _passphrase_from_file(path: Path) -> bytes:
    """The file's first line (trailing CR/LF removed)."""
    line = read_file(path).splitlines()[0]
    if not line:
        raise PkiError(f"passphrase file {path} starts with an empty line")
    return line


def _new_passphrase(no_encrypt: bool, file: Path | None, env: str, what: str) -> bytes | None:
    """None with --no-encrypt, else the passphrase for a new file (see :func:`_passphrase_for`)."""
    if no_encrypt:
        if file is not None:
            raise CliError("--no-encrypt and --passphrase-file exclude each other", EXIT_USAGE)
        return None
    return _passphrase_for(file, env, what)


def _passphrase_for(file: Path | None, env: str, what: str, *, optional: bool = True) -> bytes:
    """The passphrase that encrypts a new file: file, then $env, then a confirmed prompt."""
    if file is not None:
        return _passphrase_from_file(file)
    if os.environ.get(env):
        return os.environ[env].encode()
    if not _stdin_is_tty():
        or_plain = ", or --no-encrypt" if optional else ""
        raise CliError(
            f"no passphrase for {what} and stdin is not a terminal: "
            f"use --passphrase-file or set {env}{or_plain}",
            EXIT_USAGE,
        )
    answer = typer.prompt(f"Passphrase for {what}", hide_input=True, confirmation_prompt=True)
    return str(answer).encode()


def _existing_passphrase(file: Path | None, env: str, flag: str, what: str) -> PassphraseSource:
    """A source asked only if the key is encrypted: file, then $env, then a prompt."""

    def source() -> bytes:
        if file is not None:
            return _passphrase_from_file(file)
        if os.environ.get(env):
            return os.environ[env].encode()
        if not _stdin_is_tty():
            raise CliError(
                f"{what} is encrypted and stdin is not a terminal: use {flag} or set {env}",
                EXIT_USAGE,
            )
        return str(typer.prompt(f"Passphrase for {what}", hide_input=True)).encode()

    return source


def _load_certs(path: Path) -> tuple[x509.Certificate, ...]:
    return load_certificates(read_file(path), label=str(path))


def _emit_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def _working(what: str) -> contextlib.AbstractContextManager[object]:
    """A spinner on stderr while keys are generated (silent when stderr is not a terminal)."""
    return console_err.status(f"{what}…")


def _say(text: str) -> None:
    console.print(text, soft_wrap=True)


def _short(thumb: str) -> str:
    return f"{thumb[:16]}…"


def _report_leaf(
    files: list[OutputFile], issued: IssuedCertificate, encrypted: bool, json_out: bool
) -> None:
    cert = issued.certificate
    if json_out:
        summary = describe_certificate(cert).to_json()
        summary["files"] = {_role(f.path): str(f.path) for f in files}
        summary["key_encrypted"] = encrypted
        _emit_json(summary)
        return
    left = cert.not_valid_after_utc - now_utc() + dt.timedelta(seconds=30)
    length = format_duration(left - dt.timedelta(seconds=left.total_seconds() % 60))
    subject = escape(cert.subject.rfc4514_string() or "(empty subject)")
    for item in files:
        role = _role(item.path)
        if role == "certificate":
            detail = f"{subject}, valid {length}, {X5T_S256} {_short(x5t_s256(cert))}"
        elif role == "key":
            detail = f"{'encrypted' if encrypted else 'NOT encrypted'}, mode 0600"
        else:
            detail = f"leaf + {len(issued.chain) - 1} intermediate(s), no root"
        _say(f"[green]wrote[/] {escape(str(item.path))} ({detail})")


def _role(path: Path) -> str:
    if path.name.endswith("-chain.pem"):
        return "chain"
    return "key" if path.suffix == ".key" else "certificate"


def _leaf_spec(
    subject: str | None,
    sans: SubjectAltNames,
    validity: str,
    key_type: str,
    profile: Profile,
) -> LeafSpec:
    if profile is Profile.SERVER and not (sans.dns or sans.ip):
        raise PkiError("a server certificate needs at least one --dns or --ip name")
    if subject is None:
        default = sans.first_name() if profile is Profile.SERVER else None
        if default is None:
            raise PkiError('--subject is required (RFC 4514, e.g. "CN=client-1,O=Acme")')
        subject = f"CN={default}"
    spec = LeafSpec(
        subject=parse_subject(subject),
        sans=sans,
        validity=parse_duration(validity),
        key_type=parse_key_type(key_type),
        profile=profile,
    )
    spec.check()
    return spec


@app.command("init-ca")
def init_ca(
    directory: Annotated[Path, typer.Argument(help="Directory for the CA files (created).")],
    key_type: CaKeyType = "ec-p256",
    validity: Annotated[str, typer.Option("--validity", help="Root lifetime.")] = "10y",
    intermediate_validity: Annotated[
        str | None,
        typer.Option(
            "--intermediate-validity",
            help="Intermediate lifetime (default: 5y, at most the root's).",
        ),
    ] = None,
    name: Annotated[
        str, typer.Option("--name", help="Root subject, RFC 4514.")
    ] = "CN=certbound Root CA",
    intermediate_name: Annotated[
        str | None,
        typer.Option(
            "--intermediate-name",
            help="Intermediate subject (default: root's, CN Root→Intermediate).",
        ),
    ] = None,
    no_intermediate: Annotated[
        bool, typer.Option("--no-intermediate", help="Only a root; it signs leaves itself.")
    ] = False,
    path_length: Annotated[
        int | None,
        typer.Option(
            "--path-length",
            help="Root pathLenConstraint (default: 1 with an intermediate, else 0).",
        ),
    ] = None,
    permitted_dns: Annotated[list[str] | None, typer.Option(help="Name constraint.")] = None,
    permitted_email: Annotated[list[str] | None, typer.Option(help="Name constraint.")] = None,
    permitted_uri: Annotated[list[str] | None, typer.Option(help="Name constraint (host).")] = None,
    permitted_ip: Annotated[list[str] | None, typer.Option(help="Name constraint (CIDR).")] = None,
    excluded_dns: Annotated[list[str] | None, typer.Option(help="Name constraint.")] = None,
    excluded_email: Annotated[list[str] | None, typer.Option(help="Name constraint.")] = None,
    excluded_uri: Annotated[list[str] | None, typer.Option(help="Name constraint (host).")] = None,
    excluded_ip: Annotated[list[str] | None, typer.Option(help="Name constraint (CIDR).")] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--passphrase-file",
            "--ca-passphrase-file",
            help=f"File whose first line encrypts the CA keys (else ${CA_ENV}, else a prompt).",
        ),
    ] = None,
    no_encrypt: NoEncrypt = False,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Create a root CA and (by default) one intermediate that signs the leaves."""
    with _cli_errors():
        constraints = NameConstraintsSpec.parse(
            permitted_dns=permitted_dns or (),
            permitted_email=permitted_email or (),
            permitted_uri=permitted_uri or (),
            permitted_ip=permitted_ip or (),
            excluded_dns=excluded_dns or (),
            excluded_email=excluded_email or (),
            excluded_uri=excluded_uri or (),
            excluded_ip=excluded_ip or (),
        )
        spec = CaSpec(
            subject=parse_subject(name),
            key_type=parse_key_type(key_type),
            validity=parse_duration(validity),
            intermediate=not no_intermediate,
            intermediate_subject=parse_subject(intermediate_name) if intermediate_name else None,
            intermediate_validity=(
                parse_duration(intermediate_validity) if intermediate_validity else None
            ),
            path_length=path_length,
            name_constraints=constraints,
        )
        _init_ca(directory, spec, passphrase_file, no_encrypt, force, json_out)


def _init_ca(
    directory: Path,
    spec: CaSpec,
    passphrase_file: Path | None,
    no_encrypt: bool,
    force: bool,
    json_out: bool,
) -> None:
    check_ca_directory(directory, force=force)  # before the prompt and the key generation
    passphrase = _new_passphrase(no_encrypt, passphrase_file, CA_ENV, "the CA keys")
    with _working(f"generating {spec.key_type.value} CA keys"):
        created = create_ca(spec)
    files = write_ca(directory, created, passphrase, force=force)
    _report_ca(directory, created.authority().issuer, files, passphrase is not None, json_out)


def _report_ca(
    directory: Path, issuer: x509.Certificate, files: dict[str, bytes], enc: bool, json_out: bool
) -> None:
    if json_out:
        meta = json.loads(files["ca.json"])
        meta["directory"] = str(directory)
        _emit_json(meta)
        return
    for file in files:
        _say(f"[green]wrote[/] {escape(str(directory / file))}")
    subject = escape(issuer.subject.rfc4514_string())
    keys = "encrypted" if enc else "NOT encrypted"
    _say(f"CA ready: leaves will be signed by {subject} (keys {keys})")


@app.command()
def issue(
    ca: CaDir,
    out: Out,
    subject: Subject = None,
    dns: Dns = None,
    uri: Uri = None,
    ip: Ip = None,
    email: Email = None,
    validity: Validity = "90d",
    key_type: KeyTypeOpt = "ec-p256",
    server: Annotated[
        bool, typer.Option("--server", help="A TLS server certificate (EKU serverAuth).")
    ] = False,
    passphrase_file: PassFile = None,
    no_encrypt: NoEncrypt = False,
    ca_passphrase_file: CaPassFile = None,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Issue a client (EKU clientAuth) or --server certificate signed by the CA."""
    with _cli_errors():
        sans = SubjectAltNames.parse(dns=dns or (), uri=uri or (), ip=ip or (), email=email or ())
        profile = Profile.SERVER if server else Profile.CLIENT
        spec = _leaf_spec(subject, sans, validity, key_type, profile)
        check_outputs([Path(f"{out}{s}") for s in (".key", ".pem", "-chain.pem")], force=force)
        authority = load_ca(
            ca,
            _existing_passphrase(ca_passphrase_file, CA_ENV, "--ca-passphrase-file", "the CA key"),
        )
        passphrase = _new_passphrase(no_encrypt, passphrase_file, KEY_ENV, "the new key")
        with _working(f"generating a {spec.key_type.value} key"):
            issued = issue_certificate(authority, spec)
        files = leaf_files(out, issued, passphrase)
        write_outputs(files, force=force)
        _report_leaf(files, issued, passphrase is not None, json_out)


@app.command("self-signed")
def self_signed(
    out: Annotated[
        str, typer.Option("--out", help="Output prefix: writes PREFIX.key, PREFIX.pem.")
    ],
    subject: Subject = None,
    dns: Dns = None,
    uri: Uri = None,
    ip: Ip = None,
    email: Email = None,
    validity: Validity = "90d",
    key_type: KeyTypeOpt = "ec-p256",
    passphrase_file: PassFile = None,
    no_encrypt: NoEncrypt = False,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """A self-signed client certificate (CA:FALSE) for self_signed_tls_client_auth."""
    with _cli_errors():
        sans = SubjectAltNames.parse(dns=dns or (), uri=uri or (), ip=ip or (), email=email or ())
        spec = _leaf_spec(subject, sans, validity, key_type, Profile.CLIENT)
        check_outputs([Path(f"{out}.key"), Path(f"{out}.pem")], force=force)
        passphrase = _new_passphrase(no_encrypt, passphrase_file, KEY_ENV, "the new key")
        with _working(f"generating a {spec.key_type.value} key"):
            issued = self_signed_certificate(spec)
        files = leaf_files(out, issued, passphrase, chain=False)
        write_outputs(files, force=force)
        _report_leaf(files, issued, passphrase is not None, json_out)


@app.command()
def renew(
    cert: CertArg,
    out: Out,
    ca: Annotated[
        Path | None, typer.Option("--ca", help="CA directory (not for self-signed certificates).")
    ] = None,
    key: Annotated[
        Path | None, typer.Option("--key", help="The old private key: checked to match CERT.")
    ] = None,
    key_passphrase_file: Annotated[
        Path | None, typer.Option("--key-passphrase-file", help="Passphrase of the old --key.")
    ] = None,
    key_type: Annotated[
        str | None, typer.Option("--key-type", help="Change the key type (default: the old one's).")
    ] = None,
    passphrase_file: PassFile = None,
    no_encrypt: NoEncrypt = False,
    ca_passphrase_file: CaPassFile = None,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """A new key and certificate with CERT's subject, SANs, EKU and validity length."""
    with _cli_errors():
        old = _load_certs(cert)[0]
        new_type = parse_key_type(key_type) if key_type is not None else None
        if key is not None:
            _check_old_key(old, key, key_passphrase_file)
        suffixes = (".key", ".pem", "-chain.pem") if ca is not None else (".key", ".pem")
        check_outputs([Path(f"{out}{s}") for s in suffixes], force=force)
        authority = None
        if ca is not None:
            source = _existing_passphrase(
                ca_passphrase_file, CA_ENV, "--ca-passphrase-file", "the CA key"
            )
            authority = load_ca(ca, source)
        if has_expired(old):
            console_err.print(
                f"[yellow]warning:[/] {escape(str(cert))} has already expired; renewing anyway",
                soft_wrap=True,
            )
        with _working("generating the new key"):
            issued = renew_certificate(old, authority, key_type=new_type)
        passphrase = _new_passphrase(no_encrypt, passphrase_file, KEY_ENV, "the new key")
        files = leaf_files(out, issued, passphrase, chain=ca is not None)
        write_outputs(files, force=force)
        _report_leaf(files, issued, passphrase is not None, json_out)


def _check_old_key(cert: x509.Certificate, path: Path, passphrase_file: Path | None) -> None:
    source = _existing_passphrase(passphrase_file, KEY_ENV, "--key-passphrase-file", str(path))
    key = load_private_key(read_file(path), source, label=str(path))
    require_matching_key(cert, key, label=str(path))


def _description_table(desc: CertificateDescription, title: str) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    rows: list[tuple[str, str]] = [
        ("subject", desc.subject or "(empty)"),
        ("issuer", desc.issuer or "(empty)"),
        ("serial", desc.serial),
        *((f"SAN {kind}", ", ".join(values)) for kind, values in desc.sans.items()),
        ("not before", desc.not_before.isoformat(sep=" ")),
        ("not after", desc.not_after.isoformat(sep=" ")),
        ("status", desc.status),
        ("key", f"{desc.key_type} ({desc.key_size} bits)"),
        ("signature", desc.signature_algorithm),
        ("extended key usage", ", ".join(desc.extended_key_usage) or "(none)"),
        ("CA", f"yes, path length {desc.path_length}" if desc.ca else "no"),
        ("key usage", ", ".join(desc.key_usage) or "(none)"),
        ("self-signed", "yes" if desc.self_signed else "no"),
        (X5T_S256, desc.x5t_s256),
        ("SPKI SHA-256", desc.spki_sha256),
    ]
    for field, value in rows:
        table.add_row(field, escape(value))
    return table


@app.command()
def inspect(cert: CertArg, json_out: Json = False) -> None:
    """Describe a certificate or bundle: names, validity, key, usages, thumbprints, chain order."""
    with _cli_errors():
        bundle = describe_bundle(_load_certs(cert))
    if json_out:
        _emit_json(bundle.to_json())
        return
    count = len(bundle.certificates)
    for i, desc in enumerate(bundle.certificates, start=1):
        title = f"certificate {i} of {count}" if count > 1 else "certificate"
        console.print(_description_table(desc, title))
    if count > 1:
        _say("chain order:")
        for link in bundle.chain:
            mark = "→ signed by the next" if link.issued_by_next else ""
            _say(f"  {escape(link.subject)} ← issuer {escape(link.issuer)} {mark}")
        order = "leaf first" if bundle.leaf_first else "NOT leaf first (or not one chain)"
        _say(f"order: {order}")


@app.command()
def thumbprint(cert: CertArg, json_out: Json = False) -> None:
    """Print the leaf's x5t#S256 (RFC 8705 §3.1): base64url SHA-256 of its DER."""
    with _cli_errors():
        leaf = _load_certs(cert)[0]
    if json_out:
        _emit_json({X5T_S256: x5t_s256(leaf)})
    else:
        typer.echo(x5t_s256(leaf))


_FORMATS = ("pem", "der", "p12", "jwk")


@app.command()
def export(
    cert: CertArg,
    fmt: Annotated[str, typer.Option("--format", help="pem, der (leaf), p12 or jwk.")] = "pem",
    key: Annotated[Path | None, typer.Option("--key", help="Private key (p12 only).")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output file (default: stdout for pem and jwk).")
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option("--passphrase-file", help=f"PKCS#12 passphrase file (else ${P12_ENV})."),
    ] = None,
    key_passphrase_file: Annotated[
        Path | None,
        typer.Option("--key-passphrase-file", help=f"--key passphrase (else ${KEY_ENV})."),
    ] = None,
    force: Force = False,
) -> None:
    """Export as PEM, DER (leaf), PKCS#12 (key + chain, encrypted) or JWK.

    The JWK is the public key with x5c (the chain), kid (RFC 7638 thumbprint) and x5t#S256, as a
    client registers it for self_signed_tls_client_auth; no "use", and "alg" only for EC keys.
    """
    with _cli_errors():
        if fmt not in _FORMATS:
            raise PkiError(f"unknown format {fmt!r}: use pem, der, p12 or jwk")
        if key is not None and fmt != "p12":
            raise PkiError("--key is used only with --format p12")
        if fmt in ("der", "p12") and out is None:
            raise PkiError(f"{fmt} is binary: give --out FILE")
        if out is not None:
            check_outputs([out], force=force)
        certs = _load_certs(cert)
        data = _export_data(fmt, certs, key, passphrase_file, key_passphrase_file)
        if out is None:
            sys.stdout.write(data.decode())
            return
        write_outputs([OutputFile(out, data, private=fmt == "p12")], force=force)
        _say(f"[green]wrote[/] {escape(str(out))} ({fmt}, {len(certs)} certificate(s))")


def _export_data(
    fmt: str,
    certs: tuple[x509.Certificate, ...],
    key_path: Path | None,
    passphrase_file: Path | None,
    key_passphrase_file: Path | None,
) -> bytes:
    if fmt == "pem":
        return export_pem(certs)
    if fmt == "der":
        return export_der(certs[0])
    if fmt == "jwk":
        return (json.dumps(export_jwk(certs), indent=2) + "\n").encode()
    if key_path is None:
        raise PkiError("--format p12 needs --key")
    source = _existing_passphrase(
        key_passphrase_file, KEY_ENV, "--key-passphrase-file", str(key_path)
    )
    key = load_private_key(read_file(key_path), source, label=str(key_path))
    require_matching_key(certs[0], key, label=str(key_path))
    passphrase = _passphrase_for(passphrase_file, P12_ENV, "the PKCS#12 file", optional=False)
    name = certs[0].subject.rfc4514_string() or None
    return export_pkcs12(key, certs, passphrase, friendly_name=name)


@app.command()
def verify(
    cert: Annotated[Path, typer.Argument(help="Client certificate or chain (leaf first).")],
    trust_anchors: Annotated[
        Path, typer.Option("--trust-anchors", help="PEM bundle of the trusted CA certificates.")
    ],
    crl: Annotated[
        list[Path] | None, typer.Option("--crl", help="CRL file, PEM or DER (repeatable).")
    ] = None,
    json_out: Json = False,
) -> None:
    """Validate a client chain as the AS does for tls_client_auth (RFC 8705 §2.1); exit 3 if not."""
    with _cli_errors():
        chain = _load_certs(cert)
        anchors = read_file(trust_anchors)
        load_certificates(anchors, label=str(trust_anchors))  # refuse truncated bundles
        crls = [read_file(path) for path in crl or ()]
        try:
            store = TrustStore.from_pem(anchors, crls)
        except ValueError as exc:
            raise PkiError(f"{trust_anchors}: {exc}") from None
    peer = PeerCertificate(chain, CertificateSource.TLS)
    try:
        verified = ChainVerifier(store).verify(peer)
    except CertificateError as exc:
        if json_out:
            _emit_json({"trusted": False, "reason": exc.reason.value, "message": str(exc)})
        raise CliError(f"not trusted ({exc.reason.value}): {exc}", EXIT_UNTRUSTED) from None
    path = [c.subject.rfc4514_string() for c in verified.chain]
    if json_out:
        _emit_json({"trusted": True, "chain": path, X5T_S256: peer.thumbprint})
        return
    _say(f"[green]trusted:[/] {escape(' → '.join(path))}")
