"""certbound.config."""
