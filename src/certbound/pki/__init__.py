"""certbound.pki: provisioning — CAs, client/server/self-signed certificates, keys, export.

A library of its own: it knows nothing of the server. Built on `cryptography` and `joserfc`.
"""

from certbound.pki._build import IssuedCertificate
from certbound.pki._ca_files import CA_FILES, ca_files, check_ca_directory, load_ca, write_ca
from certbound.pki._durations import format_duration, parse_duration
from certbound.pki._errors import PkiError
from certbound.pki._load import load_certificates, read_file
from certbound.pki._names import SubjectAltNames, parse_subject
from certbound.pki._output import OutputFile, check_outputs, write_outputs
from certbound.pki.ca import (
    CaSpec,
    CertificateAuthority,
    CreatedCa,
    NameConstraintsSpec,
    create_ca,
)
from certbound.pki.export import export_der, export_jwk, export_pem, export_pkcs12
from certbound.pki.inspect import (
    BundleDescription,
    CertificateDescription,
    describe_bundle,
    describe_certificate,
    spki_sha256,
)
from certbound.pki.issue import (
    LeafSpec,
    Profile,
    issue_certificate,
    leaf_files,
    self_signed_certificate,
)
from certbound.pki.keys import (
    KeyType,
    PrivateKey,
    encode_private_key,
    generate_private_key,
    key_type_of,
    load_private_key,
    parse_key_type,
    require_matching_key,
)
from certbound.pki.renew import has_expired, is_self_signed, renew_certificate

__all__ = [
    "CA_FILES",
    "BundleDescription",
    "CaSpec",
    "CertificateAuthority",
    "CertificateDescription",
    "CreatedCa",
    "IssuedCertificate",
    "KeyType",
    "LeafSpec",
    "NameConstraintsSpec",
    "OutputFile",
    "PkiError",
    "PrivateKey",
    "Profile",
    "SubjectAltNames",
    "ca_files",
    "check_ca_directory",
    "check_outputs",
    "create_ca",
    "describe_bundle",
    "describe_certificate",
    "encode_private_key",
    "export_der",
    "export_jwk",
    "export_pem",
    "export_pkcs12",
    "format_duration",
    "generate_private_key",
    "has_expired",
    "is_self_signed",
    "issue_certificate",
    "key_type_of",
    "leaf_files",
    "load_ca",
    "load_certificates",
    "load_private_key",
    "parse_duration",
    "parse_key_type",
    "parse_subject",
    "read_file",
    "renew_certificate",
    "require_matching_key",
    "self_signed_certificate",
    "spki_sha256",
    "write_ca",
    "write_outputs",
]
