"""The one (de)serialisation of a stored client, shared by every backend so they agree exactly.

A client is stored as the JSON text of its RFC 7591 metadata (:meth:`Client.to_metadata`), which
:meth:`Client.from_metadata` rebuilds losslessly for JSON-shaped values.
"""

from __future__ import annotations

import json

from certbound.core.clients import Client
from certbound.core.ports import StorageError

__all__ = ["decode_client", "encode_client"]


def encode_client(client: Client) -> str:
    """JSON text of ``client``'s metadata; ValueError if a value has no JSON form."""
    try:
        return json.dumps(
            client.to_metadata(),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"client {client.client_id!r}: metadata is not JSON: {exc}") from None


def decode_client(text: str) -> Client:
    """The client stored as ``text``; StorageError if the row is corrupt."""
    try:
        metadata = json.loads(text)
    except ValueError:
        raise StorageError("a stored client's metadata is not JSON") from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("client_id"), str):
        raise StorageError("a stored client's metadata is not a client object")
    try:
        return Client.from_metadata(metadata)
    except TypeError as exc:
        raise StorageError(f"stored client {metadata['client_id']!r}: {exc}") from None
