"""The one error type of the provisioning library."""

from __future__ import annotations

__all__ = ["PkiError"]


class PkiError(ValueError):
    """Bad input to a provisioning operation; the message is one line that names the cause.

    Raised for unreadable or mismatched files, bad names, durations and key types, refused
    overwrites and CA directories that are not usable. Nothing has been written when it is raised.
    """
