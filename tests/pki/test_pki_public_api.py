"""The curated public surface of certbound.pki."""

from __future__ import annotations

import certbound.pki as pki


def test_all_is_unique_and_importable() -> None:
    assert len(pki.__all__) == len(set(pki.__all__))
    for name in pki.__all__:
        assert getattr(pki, name) is not None


def test_core_workflow_names_are_public() -> None:
    for name in ("create_ca", "load_ca", "issue_certificate", "renew_certificate", "export_jwk"):
        assert name in pki.__all__
