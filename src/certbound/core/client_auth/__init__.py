"""certbound.core.client_auth."""
