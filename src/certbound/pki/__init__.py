"""certbound.pki."""
