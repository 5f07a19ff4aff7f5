"""The JSON audit log, fed by the core's typed events (an EventSink).

Failed client authentications and refused requests are security signals: each event becomes one
JSON line on the ``certbound.audit`` logger, with the event ``kind`` and its fields. Events never
carry secrets (certificates appear as ``x5t#S256``, tokens as ``jti``).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import structlog

__all__ = ["AuditLog", "configure_logging"]

_WARNING_KINDS = frozenset({"client_auth_failed", "request_rejected"})


class AuditLog:
    """EventSink writing each event as a structured log line."""

    def __init__(self, logger: Any = None) -> None:
        self._log = logger or structlog.get_logger("certbound.audit")

    def emit(self, event: object) -> None:
        kind = getattr(event, "kind", type(event).__name__)
        fields: dict[str, Any] = (
            dataclasses.asdict(event)
            if dataclasses.is_dataclass(event) and not isinstance(event, type)
            else {"event_repr": repr(event)}
        )
        if kind in _WARNING_KINDS:
            self._log.warning(kind, **fields)
        else:
            self._log.info(kind, **fields)


def configure_logging(*, json_logs: bool, level: int = logging.INFO) -> None:
    """Route structlog and stdlib logging to stderr: JSON lines, or a readable console format."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
