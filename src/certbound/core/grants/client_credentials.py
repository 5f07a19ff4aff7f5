"""RFC 6749 §4.4: the client credentials grant, with RFC 8705 §3 certificate-bound tokens.

The client is already authenticated (a confidential client: only the mutual-TLS methods reach
here, §4.4.2 "MUST only be used by confidential clients"). The handler then reads as §4.4.2/§4.4.3:

1. The client must be registered for ``client_credentials`` (``grant_types``), else
   ``unauthorized_client`` (§5.2).
2. ``scope`` (§3.3): the requested scopes must all be allowed; no ``scope`` means every allowed
   scope. Allowed = the client's registered ``scope``, narrowed to the server's
   ``scopes_supported`` when that list is set (a scope withdrawn from the server is not issued).
3. Binding (RFC 8705 §3): the token carries ``cnf.x5t#S256`` of the certificate used on this
   request when the server requires bound tokens (``require_bound_tokens``, the default) or the
   client asked for them (``tls_client_certificate_bound_access_tokens``). A token that must be
   bound but has no certificate to bind to is refused (``invalid_grant``), never issued unbound.
4. ``sub`` is the client_id (no resource owner, RFC 9068 §2.2); ``aud`` is the configured
   audience, or the issuer when none is configured (``core.policy.token_audience``); the lifetime
   is the client's ``access_token_lifetime`` or the server default.
5. §4.4.3 response: ``access_token``, ``token_type``, ``expires_in``, ``scope``; no refresh token
   (§4.4.3 "SHOULD NOT be included"). A ``TokenIssued`` event records the ``jti``.
"""

from __future__ import annotations

from typing import Final

from certbound.core.clients import Client
from certbound.core.errors import InvalidGrantError, UnauthorizedClientError
from certbound.core.events import TokenIssued
from certbound.core.grants import GrantContext, token_response
from certbound.core.messages import Response
from certbound.core.policy import ServerPolicy, token_audience
from certbound.core.scopes import grant_scopes, parse_scope
from certbound.core.tokens.access_token import issue_access_token

__all__ = ["CLIENT_CREDENTIALS", "ClientCredentialsGrant"]

CLIENT_CREDENTIALS: Final = "client_credentials"


def _allowed_scopes(client: Client, policy: ServerPolicy) -> tuple[str, ...]:
    if not policy.scopes_supported:
        return client.scope
    return tuple(s for s in client.scope if s in policy.scopes_supported)


def _cnf_thumbprint(ctx: GrantContext) -> str | None:
    """RFC 8705 §3: the thumbprint to bind to, or None for an unbound token."""
    client = ctx.client.client
    if not (ctx.policy.require_bound_tokens or client.tls_client_certificate_bound_access_tokens):
        return None
    if ctx.client.peer is None:
        raise InvalidGrantError(
            "a client certificate is required for a certificate-bound token",
            detail="bound token required but no certificate was presented",
        )
    return ctx.client.peer.thumbprint


class ClientCredentialsGrant:
    """The ``client_credentials`` :class:`~certbound.core.grants.GrantHandler`."""

    __slots__ = ()
    grant_type: Final = CLIENT_CREDENTIALS

    async def handle(self, ctx: GrantContext) -> Response:
        client = ctx.client.client
        if CLIENT_CREDENTIALS not in client.grant_types:
            raise UnauthorizedClientError(
                "the client is not allowed to use the client_credentials grant",
                detail=f"grant_types of {client.client_id!r}: {', '.join(client.grant_types)}",
            )
        scope = grant_scopes(
            parse_scope(ctx.form.get("scope")), _allowed_scopes(client, ctx.policy)
        )
        cnf = _cnf_thumbprint(ctx)
        issued = issue_access_token(
            ctx.signer,
            issuer=ctx.policy.issuer,
            client_id=client.client_id,
            subject=client.client_id,
            audience=token_audience(ctx.policy),
            scope=scope,
            lifetime=client.access_token_lifetime or ctx.policy.access_token_lifetime,
            now=int(ctx.now.timestamp()),
            cnf_thumbprint=cnf,
        )
        ctx.events.emit(TokenIssued(client.client_id, issued.jti, CLIENT_CREDENTIALS, scope, cnf))
        return token_response(issued, scope)
