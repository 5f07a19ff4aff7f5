"""Errors raised while reading a client certificate from the TLS layer or a proxy header.

A malformed value is always one of these (a ``ValueError``), never a crash. The message is a
single line that names where the value came from and is safe to send as an RFC 6749 §5.2
``error_description`` (ASCII, no quote or backslash); ``detail`` keeps the private reason
(e.g. a parser library's message) for logs only.
"""

from __future__ import annotations

__all__ = ["CertificateHeaderError", "CertificateSourceError"]


class CertificateSourceError(ValueError):
    """A client certificate could not be read from ``origin`` (a header or the TLS layer)."""

    def __init__(self, origin: str, reason: str, *, detail: str | None = None) -> None:
        super().__init__(f"{origin}: {reason}")
        self.origin = origin
        self.reason = reason
        self.detail = detail


class CertificateHeaderError(CertificateSourceError):
    """A certificate header sent by a proxy is malformed; ``header`` names it."""

    @property
    def header(self) -> str:
        return self.origin
