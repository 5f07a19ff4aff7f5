"""certbound: Mutual TLS for OAuth 2.0 and OpenID Connect (RFC 8705)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
