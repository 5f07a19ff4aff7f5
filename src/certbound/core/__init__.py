"""certbound.core."""
