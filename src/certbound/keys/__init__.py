"""certbound.keys."""
