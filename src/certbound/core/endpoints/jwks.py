"""The ``jwks_uri`` document (RFC 8414 §2, RFC 7517 §5): the public signing keys.

Media type: ``application/json``. ``application/jwk-set+json`` (RFC 7517 §8.5) is the precise type,
but RFC 8414 does not require it and several resource-server libraries accept only
``application/json``; the body is the same either way.

Caching: ``public, max-age=300``. A key rotation must publish the next key at least that long
before it signs, and keep a retired key published at least one token lifetime after it stops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from certbound.core.messages import Response
from certbound.core.registration_rules import PRIVATE_JWK_MEMBERS

__all__ = ["JWKS_CACHE_CONTROL", "jwks_document"]

JWKS_CACHE_CONTROL: Final = "public, max-age=300"


def jwks_document(keyset_jwks: Mapping[str, Any]) -> Response:
    """200 with the JWK Set. ValueError (a server bug, never a client's) if it is not a JWK Set
    or if any key carries private material: a private key is never published."""
    keys = keyset_jwks.get("keys")
    if not isinstance(keys, list) or not all(isinstance(k, Mapping) for k in keys):
        raise ValueError("a JWK Set needs a 'keys' list of JWK objects")
    for jwk in keys:
        leaked = sorted(PRIVATE_JWK_MEMBERS.intersection(jwk))
        if leaked:
            raise ValueError(
                f"refusing to publish private key members {leaked} of kid {jwk.get('kid')!r}"
            )
    body = {"keys": [dict(k) for k in keys]}
    return Response(200, json=body, headers={"Cache-Control": JWKS_CACHE_CONTROL})
