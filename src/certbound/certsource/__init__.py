"""certbound.certsource."""
