"""certbound.core.endpoints."""
