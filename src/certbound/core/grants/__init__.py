"""certbound.core.grants."""
