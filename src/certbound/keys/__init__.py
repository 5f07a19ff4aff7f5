"""Signing keys: in-process signers, the published JWKS and the key directory (rotation-ready)."""

from certbound.keys.keyset import STATE_FILE, KeySet, load_keyset, load_or_create_signing_key
from certbound.keys.local import SUPPORTED_ALGORITHMS, LocalSigner, normalize_alg

__all__ = [
    "STATE_FILE",
    "SUPPORTED_ALGORITHMS",
    "KeySet",
    "LocalSigner",
    "load_keyset",
    "load_or_create_signing_key",
    "normalize_alg",
]
