"""certbound.server."""
