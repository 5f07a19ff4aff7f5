"""The OpenAPI 3.1 document of the admin API, written by hand to say exactly what it does.

tests/server/test_admin_api.py checks that every documented path and method is routed, every
route is documented, every ``$ref`` resolves, and every status the tests see is documented.
"""

from __future__ import annotations

import copy
from typing import Any, Final

__all__ = ["openapi_document"]

_JSON: Final = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ref(schema)}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Bad request: `invalid_request` (not JSON, duplicate members) or"
        " `invalid_client_metadata` whose description starts with the offending field",
        401: "No or unaccepted admin credentials (`WWW-Authenticate: Bearer`)",
        404: "No such resource",
        409: "Conflict with the current state",
        413: "Request body too large",
        415: "Unsupported request media type",
        500: "Internal error (the details are in the server log only)",
        503: "Storage temporarily unavailable",
    }
    return {str(c): _body("Error", reasons[c]) for c in (401, *codes, 500, 503)}


def _client_id() -> dict[str, Any]:
    return {"name": "client_id", "in": "path", "required": True, "schema": {"type": "string"}}


_METADATA: Final = {
    "type": "object",
    "description": "RFC 7591 section 2 / RFC 8705 client metadata; other members are kept."
    " Members named certbound_* (e.g. certbound_introspect_any) are operator-only.",
    "properties": {
        "client_id": {"type": "string", "pattern": "^[A-Za-z0-9._~-]{1,128}$"},
        "client_id_issued_at": {"type": "integer", "readOnly": True},
        "token_endpoint_auth_method": {
            "type": "string",
            "enum": ["tls_client_auth", "self_signed_tls_client_auth", "private_key_jwt", "none"],
        },
        "tls_client_auth_subject_dn": {"type": "string"},
        "tls_client_auth_san_dns": {"type": "string"},
        "tls_client_auth_san_uri": {"type": "string"},
        "tls_client_auth_san_ip": {"type": "string"},
        "tls_client_auth_san_email": {"type": "string"},
        "jwks": {"type": "object"},
        "jwks_uri": {"type": "string", "format": "uri"},
        "grant_types": {"type": "array", "items": {"type": "string"}},
        "response_types": {"type": "array", "items": {"type": "string"}},
        "redirect_uris": {"type": "array", "items": {"type": "string", "format": "uri"}},
        "scope": {"type": "string"},
        "client_name": {"type": "string", "maxLength": 200},
        "tls_client_certificate_bound_access_tokens": {"type": "boolean"},
        "access_token_lifetime": {"type": "integer", "minimum": 30, "maximum": 86400},
        "certbound_introspect_any": {"type": "boolean"},
    },
    "required": ["token_endpoint_auth_method"],
    "additionalProperties": True,
}

_ANCHOR: Final = {
    "type": "object",
    "properties": {
        "x5t#S256": {"type": "string"},
        "subject": {"type": "string"},
        "issuer": {"type": "string"},
        "not_before": {"type": "string", "format": "date-time"},
        "not_after": {"type": "string", "format": "date-time"},
        "source": {"type": "string", "enum": ["configured", "api"]},
        "pem": {"type": "string"},
    },
    "required": ["x5t#S256", "subject", "source", "pem"],
}

_SCHEMAS: Final = {
    "Error": {
        "type": "object",
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
        "required": ["error"],
    },
    "ClientMetadata": _METADATA,
    "ClientList": {
        "type": "object",
        "properties": {"clients": {"type": "array", "items": _ref("ClientMetadata")}},
        "required": ["clients"],
    },
    "TrustAnchor": _ANCHOR,
    "TrustAnchorList": {
        "type": "object",
        "properties": {"trust_anchors": {"type": "array", "items": _ref("TrustAnchor")}},
        "required": ["trust_anchors"],
    },
    "TrustAnchorsAdded": {
        "type": "object",
        "properties": {
            "added": {"type": "array", "items": _ref("TrustAnchor")},
            "trust_anchors": {"type": "array", "items": _ref("TrustAnchor")},
        },
        "required": ["added", "trust_anchors"],
    },
    "PemRequest": {
        "type": "object",
        "properties": {"pem": {"type": "string", "description": "PEM CA certificate(s)"}},
        "required": ["pem"],
    },
    "Configuration": {
        "type": "object",
        "description": "The effective settings; secrets appear as '**********'.",
        "additionalProperties": True,
    },
    "OpenApi": {"type": "object", "additionalProperties": True},
}


def _paths() -> dict[str, Any]:
    metadata_in = _body("ClientMetadata", "Client metadata (JSON object)")
    anchors_in = {
        "description": "CA certificate(s) to trust for tls_client_auth",
        "content": {
            _JSON: {"schema": _ref("PemRequest")},
            "application/pem-certificate-chain": {"schema": {"type": "string"}},
        },
    }
    client = {"200": _body("ClientMetadata", "The client")}
    no_content = {"204": {"description": "Removed"}}
    thumbprint = {
        "name": "thumbprint",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    return {
        "/admin/clients": {
            "get": {"operationId": "listClients", "responses": {"200": _body("ClientList", "All clients"), **_errors()}},
            "post": {"operationId": "createClient", "requestBody": metadata_in,
                     "responses": {"201": _body("ClientMetadata", "Registered"), **_errors(400, 409, 413, 415)}},
        },
        "/admin/clients/{client_id}": {
            "parameters": [_client_id()],
            "get": {"operationId": "getClient", "responses": {**client, **_errors(404)}},
            "put": {"operationId": "replaceClient", "requestBody": metadata_in,
                    "responses": {**client, **_errors(400, 404, 413, 415)}},
            "delete": {"operationId": "deleteClient", "responses": {**no_content, **_errors(404)}},
        },
        "/admin/trust-anchors": {
            "get": {"operationId": "listTrustAnchors",
                    "responses": {"200": _body("TrustAnchorList", "Configured and added anchors"), **_errors()}},
            "post": {"operationId": "addTrustAnchors", "requestBody": anchors_in,
                     "responses": {"201": _body("TrustAnchorsAdded", "Added (in effect at once)"),
                                   "200": _body("TrustAnchorsAdded", "Already trusted"),
                                   **_errors(400, 413, 415)}},
        },
        "/admin/trust-anchors/{thumbprint}": {
            "parameters": [thumbprint],
            "delete": {"operationId": "removeTrustAnchor",
                       "responses": {**no_content, **_errors(404, 409)}},
        },
        "/admin/config": {
            "get": {"operationId": "getConfiguration",
                    "responses": {"200": _body("Configuration", "Effective configuration"), **_errors()}},
        },
        "/admin/openapi.json": {
            "get": {"operationId": "getOpenApi", "responses": {"200": _body("OpenApi", "This document"), **_errors()}},
        },
    }  # fmt: skip


def openapi_document(server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the admin API served at ``server_url``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "certbound admin API",
            "version": "1",
            "description": "Clients, trust anchors and the effective configuration of a"
            " certbound authorization server. Authenticate with the admin bearer token or an"
            " admin client certificate.",
        },
        "servers": [{"url": server_url}],
        "security": [{"adminToken": []}, {"adminCertificate": []}],
        "paths": _paths(),
        "components": {
            "schemas": copy.deepcopy(_SCHEMAS),
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer"},
                "adminCertificate": {"type": "mutualTLS"},
            },
        },
    }
