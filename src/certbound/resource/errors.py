"""The resource server's own failure: the authorization server cannot be used right now.

A protected resource that cannot fetch the issuer's metadata or keys, or whose introspection call
fails, cannot tell a good token from a bad one. That is neither the client's fault (``4xx``) nor
a bug (``500``): the middleware answers ``503`` with a JSON body (``temporarily_unavailable``) and
a ``Retry-After``; the cause stays in ``detail`` and in the log, never in the body.
"""

from __future__ import annotations

from typing import Final

from certbound.core.errors import TemporarilyUnavailableError

__all__ = ["AS_UNAVAILABLE", "ResourceServerUnavailableError"]

AS_UNAVAILABLE: Final = "the authorization server cannot be reached to verify the token"


class ResourceServerUnavailableError(TemporarilyUnavailableError):
    """The authorization server (discovery, JWKS or introspection) failed; ``detail`` says how."""

    def __init__(self, detail: str, *, retry_after: int = 5) -> None:
        super().__init__(AS_UNAVAILABLE, detail=detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
