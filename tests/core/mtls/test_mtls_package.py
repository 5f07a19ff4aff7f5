"""The curated public surface of certbound.core.mtls."""

from __future__ import annotations

import certbound.core.mtls as mtls
from certbound.core.mtls import certificate, subject, verification


def test_package_reexports_exactly_the_public_names_of_its_modules() -> None:
    modules = (certificate, subject, verification)
    expected = sorted(name for module in modules for name in module.__all__)
    assert sorted(mtls.__all__) == expected
    for name in expected:
        owner = next(m for m in modules if name in m.__all__)
        assert getattr(mtls, name) is getattr(owner, name)
