"""Example applications built on certbound's public API (what ``certbound example-api`` runs)."""

from certbound.examples.api import EXAMPLE_REALM, create_example_api

__all__ = ["EXAMPLE_REALM", "create_example_api"]
