"""Fixtures for the certbound.pki tests: CAs and keys made once per module (keygen is slow)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pki_cli_runner import CliResult, run_cli

from certbound.pki import CaSpec, CreatedCa, KeyType, create_ca, parse_subject


@pytest.fixture(scope="session")
def cli() -> Callable[..., CliResult]:
    return run_cli


@pytest.fixture(scope="module")
def ec_ca() -> CreatedCa:
    """An EC P-256 root with one intermediate."""
    return create_ca(CaSpec(parse_subject("CN=Test Root CA,O=Acme")))


@pytest.fixture(scope="module")
def root_only_ca() -> CreatedCa:
    """An RSA-2048 root without an intermediate (it signs leaves itself)."""
    return create_ca(
        CaSpec(parse_subject("CN=Solo CA"), key_type=KeyType.RSA_2048, intermediate=False)
    )
