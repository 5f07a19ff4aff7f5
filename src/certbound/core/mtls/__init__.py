"""certbound.core.mtls."""
