"""The token endpoint (RFC 6749 §3.2): parse → authenticate → dispatch to the grant handler.

Steps, in order (each failure is the named OAuth error):

1. RFC 6749 §3.2: the method is POST (else 405, ``Allow: POST``).
2. The body is ``application/x-www-form-urlencoded`` (RFC 6749 §3.2, Appendix B), else
   ``invalid_request`` (400, the error §5.2 assigns to a malformed request).
3. The form is parsed strictly; a repeated parameter is ``invalid_request`` (§3.2).
4. ``grant_type`` is required (``invalid_request``) and must be enabled here
   (``unsupported_grant_type``).
5. The client is authenticated with its registered method (``core.client_auth``, RFC 8705 §2).
6. The grant handler registered for ``grant_type`` answers (``core.grants``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Final

from certbound.core.client_auth import ClientAssertionVerifier, authenticate_client
from certbound.core.errors import (
    InvalidRequestError,
    MethodNotAllowedError,
    UnsupportedGrantTypeError,
)
from certbound.core.form import parse_form
from certbound.core.grants import GrantContext, GrantRegistry
from certbound.core.messages import Request, Response
from certbound.core.mtls.verification import ChainVerifier
from certbound.core.policy import ServerPolicy
from certbound.core.ports import ClientStore, EventSink, JwksFetcher, ReplayCache, TokenSigner

__all__ = ["FORM_MEDIA_TYPE", "TokenEndpoint"]

FORM_MEDIA_TYPE: Final = "application/x-www-form-urlencoded"


class _PostOnlyError(MethodNotAllowedError):
    """405 with the ``Allow`` header RFC 9110 §15.5.6 requires."""

    def headers(self) -> dict[str, str]:
        return {"Allow": "POST"}


@dataclass(frozen=True, slots=True)
class TokenEndpoint:
    """The token endpoint's fixed collaborators; what may change between requests (the trust
    store's verifier, the active signing key, the time) is passed to :meth:`handle`."""

    clients: ClientStore
    jwks_fetcher: JwksFetcher
    policy: ServerPolicy
    events: EventSink
    grants: GrantRegistry
    replay: ReplayCache | None = None
    _assertions: ClientAssertionVerifier | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        verifier = (
            None
            if self.replay is None
            else ClientAssertionVerifier.for_endpoint(self.policy, "token", self.replay)
        )
        object.__setattr__(self, "_assertions", verifier)

    async def handle(
        self,
        request: Request,
        *,
        verifier: ChainVerifier,
        signer: TokenSigner,
        now: dt.datetime,
    ) -> Response:
        if request.method != "POST":
            raise _PostOnlyError("the token endpoint accepts POST only")
        if request.content_type != FORM_MEDIA_TYPE:
            raise InvalidRequestError(f"the request body must be {FORM_MEDIA_TYPE}")
        form = parse_form(request.body)
        grant_type = form.require("grant_type")
        handler = self.grants.get(grant_type)
        if handler is None:
            raise UnsupportedGrantTypeError(
                "the grant_type is not supported", detail=f"grant_type={grant_type!r}"
            )
        client = await authenticate_client(
            form,
            request,
            clients=self.clients,
            verifier=verifier,
            jwks_fetcher=self.jwks_fetcher,
            events=self.events,
            now=now,
            allowed_methods=self.policy.client_auth_methods,
            assertions=self._assertions,
        )
        ctx = GrantContext(request, form, client, self.policy, signer, self.events, now)
        return await handler.handle(ctx)
