"""certbound.core.tokens."""
