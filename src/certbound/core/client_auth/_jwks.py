"""Fetching a client's ``jwks_uri`` for client authentication (RFC 8705 §2.2, RFC 7523 §3).

Shared by ``self_signed_tls_client_auth`` and ``private_key_jwt``: a fetch failure is the client's
authentication failure (``jwks_unavailable``), never a server error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from certbound.core.client_auth._failure import AuthFailureReason, ClientAuthFailure
from certbound.core.ports import JwksFetcher, JwksFetchError

__all__ = ["fetch_client_jwks"]


async def fetch_client_jwks(fetcher: JwksFetcher, uri: str, *, force: bool) -> Mapping[str, Any]:
    """The JWK Set at ``uri`` (``force`` bypasses the fetcher's cache, rate-limited by it);
    :class:`ClientAuthFailure` ``jwks_unavailable`` when it cannot be had."""
    try:
        return await fetcher.fetch(uri, force=force)
    except JwksFetchError as exc:
        what = "refetch" if force else "fetch"
        raise ClientAuthFailure(
            AuthFailureReason.JWKS_UNAVAILABLE, f"jwks_uri {uri!r} {what} failed: {exc}"
        ) from None
