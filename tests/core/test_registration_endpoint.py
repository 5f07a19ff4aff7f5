"""RFC 7591 registration and RFC 7592 client configuration through the Provider (memory stores),
the strict JSON body reader, and the operator-only metadata rule of the shared validation."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

import pytest
from provider_fakes import EventLog, FixedClock, ScriptedJwksFetcher

from certbound.core.clients import Client
from certbound.core.endpoints._json_body import parse_json
from certbound.core.endpoints.registration import (
    ClientRegistrationChanged,
    RegistrationPolicy,
    bearer_token,
    token_sha256,
)
from certbound.core.errors import InvalidClientMetadataError, InvalidRequestError
from certbound.core.events import RequestRejected
from certbound.core.messages import Request, Response
from certbound.core.mtls.verification import ChainVerifier, TrustStore
from certbound.core.policy import ServerPolicy
from certbound.core.ports import StorageError
from certbound.core.provider import Provider
from certbound.core.registration_rules import merge_update, validate_client_metadata
from certbound.keys.keyset import KeySet
from certbound.keys.local import LocalSigner
from certbound.storage.memory import MemoryClientStore
from certbound.storage.registration_tokens import MemoryRegistrationTokenStore
from testpki import NOW

ISSUER: Final = "https://as.example.com"
POLICY: Final = ServerPolicy(issuer=ISSUER, mtls_base_url="https://mtls.as.example.com")
IAT: Final = "initial-access-token-0123456789"
T: Final = int(NOW.timestamp())
TLS: Final = {
    "token_endpoint_auth_method": "tls_client_auth",
    "tls_client_auth_san_dns": "c.example",
}
GRANT: Final = {"certbound_introspect_any": True}


class Harness:
    def __init__(self, pki: Any, registration: RegistrationPolicy | None) -> None:
        self.clients = MemoryClientStore()
        self.tokens = MemoryRegistrationTokenStore()
        self.events = EventLog()
        self.provider = Provider(
            clients=self.clients,
            verifier=ChainVerifier(TrustStore((pki.root.cert,))),
            keys=KeySet([LocalSigner.generate("ES256")]),
            jwks_fetcher=ScriptedJwksFetcher({"keys": []}),
            policy=POLICY,
            clock=FixedClock(NOW),
            events=self.events,
            registration=registration,
            registration_tokens=self.tokens,
        )

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        content_type: str = "application/json",
        raw: bytes | None = None,
    ) -> Response:
        headers = {"content-type": content_type}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        request = Request(method=method, path=path, headers=headers, body=data, base_url=ISSUER)
        return await self.provider.handle("registration", request)

    async def register(self, body: Any = TLS) -> dict[str, Any]:
        response = await self.call("POST", "/register", body, token=IAT)
        assert response.status == 201, response.json
        assert response.json is not None
        return dict(response.json)


@pytest.fixture
def dcr(pki: Any) -> Harness:
    return Harness(pki, RegistrationPolicy(initial_access_token_sha256=token_sha256(IAT)))


# --- enabling ------------------------------------------------------------------------------------


async def test_registration_is_not_served_or_listed_unless_enabled(pki: Any) -> None:
    for policy in (None, RegistrationPolicy()):
        harness = Harness(pki, policy)
        response = await harness.call("POST", "/register", TLS, token=IAT)
        assert response.status == 404
        assert "registration" not in harness.provider.endpoints
        metadata = await harness.provider.handle("discovery", Request("GET", "/"))
        assert metadata.json is not None and "registration_endpoint" not in metadata.json


async def test_an_enabled_registration_is_listed_in_the_metadata(dcr: Harness) -> None:
    metadata = await dcr.provider.handle("discovery", Request("GET", "/"))
    assert metadata.json is not None
    assert metadata.json["registration_endpoint"] == f"{ISSUER}/register"
    assert "registration_endpoint" not in metadata.json["mtls_endpoint_aliases"]


def test_an_enabled_registration_without_a_token_store_is_refused(pki: Any) -> None:
    with pytest.raises(ValueError, match="no RegistrationTokenStore"):
        Provider(
            clients=MemoryClientStore(),
            verifier=ChainVerifier(TrustStore((pki.root.cert,))),
            keys=KeySet([LocalSigner.generate("ES256")]),
            jwks_fetcher=ScriptedJwksFetcher({"keys": []}),
            policy=POLICY,
            clock=FixedClock(NOW),
            events=EventLog(),
            registration=RegistrationPolicy(open=True),
        )


# --- RFC 7591 registration -----------------------------------------------------------------------


async def test_registration_answers_201_with_the_client_information(dcr: Harness) -> None:
    response = await dcr.call("POST", "/register", {**TLS, "client_name": "n"}, token=IAT)
    assert response.status == 201
    assert response.headers == {"Cache-Control": "no-store", "Pragma": "no-cache"}
    body = dict(response.json or {})
    client_id, token = body.pop("client_id"), body.pop("registration_access_token")
    assert body == {
        **TLS,
        "client_name": "n",
        "client_id_issued_at": T,
        "grant_types": ["client_credentials"],
        "response_types": [],
        "redirect_uris": [],
        "tls_client_certificate_bound_access_tokens": True,
        "registration_client_uri": f"{ISSUER}/register/{client_id}",
    }
    assert len(token) >= 43 and len(client_id) >= 22
    assert await dcr.tokens.get(client_id) == hashlib.sha256(token.encode()).hexdigest()
    assert (await dcr.clients.get(client_id)) is not None
    assert dcr.events.of(ClientRegistrationChanged) == [
        ClientRegistrationChanged("registered", client_id, "dcr")
    ]


async def test_open_registration_needs_no_token(pki: Any) -> None:
    harness = Harness(pki, RegistrationPolicy(open=True))
    assert (await harness.call("POST", "/register", TLS)).status == 201


@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, 'Bearer realm="certbound"'),
        (f"Bearer {IAT}x", 'Bearer realm="certbound", error="invalid_token"'),
        (f"Basic {IAT}", 'Bearer realm="certbound", error="invalid_token"'),
        ("Bearer a b", 'Bearer realm="certbound", error="invalid_token"'),
    ],
    ids=["missing", "wrong", "basic", "malformed"],
)
async def test_registration_without_the_initial_access_token_is_401(
    dcr: Harness, authorization: str | None, challenge: str
) -> None:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    request = Request("POST", "/register", headers, json.dumps(TLS).encode())
    response = await dcr.provider.handle("registration", request)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == challenge
    assert response.json == {
        "error": "invalid_token",
        "error_description": "a valid initial access token is required to register",
    }
    assert await dcr.clients.list() == []


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({**TLS, **GRANT}, "certbound_introspect_any: is set by the server's operator"),
        ({**TLS, "certbound_anything": 1}, "certbound_anything: is set by the server's operator"),
        ({**TLS, "client_id": "mine"}, "client_id: is assigned by the server"),
        (
            {**TLS, "registration_access_token": "t"},
            "registration_access_token: is set by the server",
        ),
        (["x"], "client metadata: must be a JSON object"),
    ],
    ids=["introspect-any", "any-certbound-member", "client-id", "registration-token", "array"],
)
async def test_a_client_cannot_register_what_only_the_server_sets(
    dcr: Harness, body: Any, description: str
) -> None:
    response = await dcr.call("POST", "/register", body, token=IAT)
    assert response.status == 400
    assert response.json is not None
    assert response.json["error"] == "invalid_client_metadata"
    assert response.json["error_description"].startswith(description)
    assert await dcr.clients.list() == []
    (rejected,) = dcr.events.of(RequestRejected)
    assert (rejected.endpoint, rejected.error) == ("registration", "invalid_client_metadata")


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "description"),
    [
        (b"{}", "application/x-www-form-urlencoded", 415, "the request body must be application/json"),
        (b"{", "application/json", 400, "the request body is not valid JSON: Expecting"),
        (b'{"a":1,"a":1}', "application/json", 400, "the request body is not valid JSON: member 'a'"),
    ],
    ids=["media-type", "not-json", "duplicate"],
)  # fmt: skip
async def test_unreadable_registration_bodies_are_refused(
    dcr: Harness, raw: bytes, content_type: str, status: int, description: str
) -> None:
    response = await dcr.call("POST", "/register", token=IAT, raw=raw, content_type=content_type)
    assert response.status == status
    assert response.json is not None
    assert response.json["error_description"].startswith(description)


async def test_a_failure_to_store_the_token_removes_the_client(dcr: Harness) -> None:
    async def broken(client_id: str, token_sha256: str, issued_at: int) -> None:
        raise StorageError("database is locked")

    dcr.tokens.put = broken  # type: ignore[method-assign]
    with pytest.raises(StorageError):
        await dcr.call("POST", "/register", TLS, token=IAT)
    assert await dcr.clients.list() == []


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/register", 405, "POST"),
        ("PATCH", "/register/abc", 405, "GET, PUT, DELETE"),
        ("GET", "/register/", 404, None),
        ("GET", "/register/a/b", 404, None),
        ("GET", "/registerx", 404, None),
    ],
)
async def test_methods_and_paths(
    dcr: Harness, method: str, path: str, status: int, allow: str | None
) -> None:
    response = await dcr.call(method, path, token=IAT)
    assert response.status == status
    assert response.headers.get("Allow") == allow


# --- RFC 7592 client configuration ---------------------------------------------------------------


async def test_read_answers_the_client_information_with_the_presented_token(dcr: Harness) -> None:
    created = await dcr.register()
    token = created["registration_access_token"]
    response = await dcr.call("GET", f"/register/{created['client_id']}", token=token)
    assert response.status == 200
    assert response.json == created
    assert response.headers["Cache-Control"] == "no-store"


async def test_a_wrong_token_or_unknown_client_is_the_same_401(dcr: Harness) -> None:
    first, second = await dcr.register(), await dcr.register()
    attempts = [
        (first["client_id"], second["registration_access_token"]),  # another client's token
        (first["client_id"], IAT),  # the initial access token is not a registration token
        ("nobody", first["registration_access_token"]),
        (first["client_id"], None),
    ]
    for client_id, token in attempts:
        for method in ("GET", "PUT", "DELETE"):
            response = await dcr.call(method, f"/register/{client_id}", TLS, token=token)
            assert response.status == 401, (client_id, method)
            assert response.json is not None and response.json["error"] == "invalid_token"
            assert response.headers["WWW-Authenticate"].startswith('Bearer realm="certbound"')
    assert len(await dcr.clients.list()) == 2


async def test_update_replaces_the_metadata(dcr: Harness) -> None:
    created = await dcr.register({**TLS, "client_name": "old", "scope": "a"})
    client_id, token = created["client_id"], created["registration_access_token"]
    response = await dcr.call(
        "PUT", f"/register/{client_id}", {**TLS, "client_id": client_id, "client_name": "new"},
        token=token,
    )  # fmt: skip
    assert response.status == 200
    assert response.json is not None
    assert (response.json["client_name"], "scope" in response.json) == ("new", False)
    assert response.json["registration_access_token"] == token
    stored = await dcr.clients.get(client_id)
    assert stored is not None and stored.client_name == "new"
    assert dcr.events.of(ClientRegistrationChanged)[-1] == ClientRegistrationChanged(
        "updated", client_id, "dcr"
    )


async def test_update_keeps_the_operators_grant_and_refuses_to_change_it(dcr: Harness) -> None:
    created = await dcr.register()
    client_id, token = created["client_id"], created["registration_access_token"]
    stored = await dcr.clients.get(client_id)
    assert stored is not None
    await dcr.clients.update(merge_update(stored, {**TLS, **GRANT}, now=T, policy=POLICY))

    echoed = await dcr.call("PUT", f"/register/{client_id}", {**TLS, **GRANT}, token=token)
    omitted = await dcr.call("PUT", f"/register/{client_id}", TLS, token=token)
    changed = await dcr.call(
        "PUT", f"/register/{client_id}", {**TLS, "certbound_introspect_any": False}, token=token
    )

    assert (echoed.status, omitted.status, changed.status) == (200, 200, 400)
    assert omitted.json is not None and omitted.json["certbound_introspect_any"] is True
    assert changed.json is not None
    assert changed.json["error_description"].startswith("certbound_introspect_any: is set by")
    final = await dcr.clients.get(client_id)
    assert final is not None and final.extra == GRANT


async def test_update_with_bad_metadata_changes_nothing(dcr: Harness) -> None:
    created = await dcr.register()
    client_id, token = created["client_id"], created["registration_access_token"]
    for body in ({**TLS, "client_id": "other"}, {**TLS, "grant_types": ["implicit"]}):
        response = await dcr.call("PUT", f"/register/{client_id}", body, token=token)
        assert response.status == 400
        assert response.json is not None and response.json["error"] == "invalid_client_metadata"
    again = await dcr.call("GET", f"/register/{client_id}", token=token)
    assert again.json == created


async def test_an_update_racing_a_delete_is_401(dcr: Harness) -> None:
    created = await dcr.register()
    client_id, token = created["client_id"], created["registration_access_token"]

    async def gone(client: Client) -> None:
        from certbound.core.ports import NotFoundInStoreError

        raise NotFoundInStoreError("no client")

    dcr.clients.update = gone  # type: ignore[method-assign]
    response = await dcr.call("PUT", f"/register/{client_id}", TLS, token=token)
    assert response.status == 401


async def test_delete_removes_the_client_and_its_token(dcr: Harness) -> None:
    created = await dcr.register()
    client_id, token = created["client_id"], created["registration_access_token"]
    response = await dcr.call("DELETE", f"/register/{client_id}", token=token)
    assert (response.status, response.json, response.text) == (204, None, "")
    assert await dcr.clients.get(client_id) is None
    assert await dcr.tokens.get(client_id) is None
    assert (await dcr.call("GET", f"/register/{client_id}", token=token)).status == 401


# --- pieces -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc-._~+/=", "abc-._~+/="),
        ("bearer  abc", "abc"),
        ("Bearer a=b", None),
        ("Bearer", None),
        ("Token abc", None),
        ("", None),
    ],
)
def test_bearer_token_follows_rfc6750_section_2_1(header: str, token: str | None) -> None:
    assert bearer_token(Request("GET", "/", {"authorization": header})) == token


@pytest.mark.parametrize(
    ("body", "description"),
    [
        (b"  ", "the body is empty"),
        (b"\xfe\xff", "it is not UTF-8"),
        (b'{"a": Infinity}', "Infinity is not a JSON number"),
        (b'{"a": {"b": 1, "b": 2}}', "member 'b' appears twice in one object"),
        (b"[" * 20000 + b"]" * 20000, "it is nested too deeply"),
    ],
)
def test_parse_json_refuses_what_no_encoder_produces(body: bytes, description: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_json(body)
    assert caught.value.description == f"the request body is not valid JSON: {description}"


def test_parse_json_reads_plain_json() -> None:
    assert parse_json(b'{"a": [1, 2.5, null, true, "\\u00e9"]}') == {"a": [1, 2.5, None, True, "é"]}


def test_trusted_callers_set_operator_grants_and_untrusted_ones_cannot() -> None:
    trusted = validate_client_metadata(
        {**TLS, **GRANT}, client_id="rs", now=T, policy=POLICY, generate_id=lambda: "x"
    )
    assert trusted.extra == GRANT
    with pytest.raises(InvalidClientMetadataError) as caught:
        validate_client_metadata(
            {**TLS, **GRANT}, client_id=None, now=T, policy=POLICY, generate_id=lambda: "x",
            trusted_caller=False,
        )  # fmt: skip
    assert caught.value.description is not None
    assert caught.value.description.startswith("certbound_introspect_any: is set by")
    untrusted = merge_update(trusted, TLS, now=T, policy=POLICY, trusted_caller=False)
    assert untrusted.extra == GRANT
    assert merge_update(trusted, TLS, now=T, policy=POLICY).extra == {}


def test_a_client_id_that_is_not_a_string_is_invalid_metadata() -> None:
    with pytest.raises(InvalidClientMetadataError) as caught:
        validate_client_metadata(
            TLS,
            client_id=7,  # type: ignore[arg-type]
            now=T,
            policy=POLICY,
            generate_id=lambda: "x",
        )
    assert caught.value.description is not None
    assert caught.value.description.startswith("client_id: must be 1 to 128 characters")
