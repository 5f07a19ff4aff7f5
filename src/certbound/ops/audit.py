"""The JSON audit log, fed by the core's typed events (an EventSink).

Failed client authentications and refused requests are security signals: each event becomes one
JSON line on the ``certbound.audit`` logger, with the event ``kind`` and its fields. Events never
carry secrets (certificates appear as ``x5t#S256``, tokens as ``jti``).

An audit line is on every token request's path (one per issued token at ``info``; the client's
successful authentication before it is a ``debug`` line), so it is written the way
structlog recommends for speed: its own processor chain straight to a file, level-filtered before
any work is done, no stdlib ``logging`` record or handler in between, orjson for the JSON, and one
``write`` per event-loop step for all the lines of that step (:mod:`._linebuffer`: a line is written
before the response of its request leaves). Lines from stdlib loggers (uvicorn,
``certbound.server``) are rendered in the same format by the stdlib handler, into the same stream.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from typing import Any, TextIO

import structlog

from certbound._json import dumps_text
from certbound.ops._linebuffer import LoopBatchedStream

__all__ = ["AuditLog", "configure_logging"]

_WARNING_KINDS = frozenset({"client_auth_failed", "request_rejected"})
# A success that the event which follows it records again (``token_issued``, ``token_revoked``,
# ``token_introspected`` name the client): logged at debug level, one line per outcome at info.
_DEBUG_KINDS = frozenset({"client_authenticated"})


class AuditLog:
    """EventSink writing each event as a structured log line."""

    def __init__(self, logger: Any = None) -> None:
        self._log = logger or structlog.get_logger("certbound.audit")

    def emit(self, event: object) -> None:
        kind = getattr(event, "kind", type(event).__name__)
        if kind in _DEBUG_KINDS and not _enabled(self._log, logging.DEBUG):
            return  # the usual case: nothing to build
        names = _field_names(type(event))
        fields: dict[str, Any] = (
            {name: getattr(event, name) for name in names}
            if names is not None
            else {"event_repr": repr(event)}
        )
        if kind in _WARNING_KINDS:
            self._log.warning(kind, **fields)
        elif kind in _DEBUG_KINDS:
            self._log.debug(kind, **fields)
        else:
            self._log.info(kind, **fields)


def _enabled(logger: Any, level: int) -> bool:
    """structlog's ``is_enabled_for`` (stdlib's ``isEnabledFor``); True when neither exists."""
    check = getattr(logger, "is_enabled_for", None) or getattr(logger, "isEnabledFor", None)
    return True if check is None else bool(check(level))


_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    """A dataclass event's field names (the events are flat: no ``asdict`` deep copy needed)."""
    try:
        return _FIELDS[cls]
    except KeyError:
        names = (
            tuple(f.name for f in dataclasses.fields(cls))
            if dataclasses.is_dataclass(cls)
            else None
        )
        _FIELDS[cls] = names
        return names


class _UtcTimestamp:
    """structlog processor: ``timestamp`` as ``TimeStamper(fmt="iso", utc=True)`` writes it
    (``2026-11-28T18:00:06.774290Z``), formatting the date and time once per second."""

    __slots__ = ("_cached",)

    def __init__(self) -> None:
        self._cached = (-1, "")  # (second, its formatted prefix): replaced whole, thread-safe

    def __call__(self, _: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        second = int(now)
        cached_second, prefix = self._cached
        if second != cached_second:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._cached = (second, prefix)
        event_dict["timestamp"] = f"{prefix}.{int((now - second) * 1e6):06d}Z"
        return event_dict


class _NamedWriteLogger(structlog.WriteLogger):
    """structlog's file logger, carrying its name for ``add_logger_name``."""

    def __init__(self, name: str, file: TextIO) -> None:
        super().__init__(file)
        self.name = name


class _NamedWriteLoggerFactory:
    def __init__(self, file: TextIO) -> None:
        self._file = file

    def __call__(self, *args: Any) -> _NamedWriteLogger:
        return _NamedWriteLogger(str(args[0]) if args else "", self._file)


def configure_logging(
    *, json_logs: bool, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Route structlog and stdlib logging to ``stream`` (stderr): JSON lines, or a readable
    console format, one line each, written once per event-loop step (:mod:`._linebuffer`)."""
    out: Any = LoopBatchedStream(stream if stream is not None else sys.stderr)
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=dumps_text)
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _UtcTimestamp(),
    ]
    structlog.configure(
        processors=[*shared, renderer],
        logger_factory=_NamedWriteLoggerFactory(out),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
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
