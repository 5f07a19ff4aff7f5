"""Tokens the authorization server issues: RFC 9068 JWT access tokens (and their RS-side check)."""

from certbound.core.tokens.access_token import (
    ACCESS_TOKEN_TYP,
    IssuedAccessToken,
    issue_access_token,
    verify_access_token,
)

__all__ = ["ACCESS_TOKEN_TYP", "IssuedAccessToken", "issue_access_token", "verify_access_token"]
