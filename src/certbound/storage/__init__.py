"""certbound.storage."""
