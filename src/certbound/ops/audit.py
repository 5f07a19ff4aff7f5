"""The JSON audit log, fed by the core's typed events (an EventSink).

Failed client authentications and refused requests are security signals: each event becomes one
JSON line on the ``certbound.audit`` logger, with the event ``kind`` and its fields. Events never
carry secrets (certificates appear as ``x5t#S256``, tokens as ``jti``).

An audit line is on every token request's path (one per issued token at ``info``; the client's
successful authentication before it is a ``debug`` line), so it is written the way
structlog recommends for speed: its own processor chain straight to a file, level-filtered before
any work is done, no stdlib ``logging`` record or handler in between, orjson for the JSON, and one
``write`` per event-loop step for all the lines of that step (:mod:`._linebuffer`: a line is written
before the response of its request leaves). While structlog's configuration is the one
:func:`configure_logging` made, :class:`AuditLog` runs that chain itself (same processors, same
line) instead of through structlog's per-call logger layers. Lines from stdlib loggers (uvicorn,
``certbound.server``) are rendered in the same format by the stdlib handler, into the same stream.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from typing import Any, Final, TextIO

import structlog

from certbound._json import dumps_text
from certbound.ops._linebuffer import LoopBatchedStream

__all__ = ["AUDIT_LOGGER", "AuditLog", "configure_logging"]

AUDIT_LOGGER: Final = "certbound.audit"

_WARNING_KINDS = frozenset({"client_auth_failed", "request_rejected"})
# A success that the event which follows it records again (``token_issued``, ``token_revoked``,
# ``token_introspected`` name the client): logged at debug level, one line per outcome at info.
_DEBUG_KINDS = frozenset({"client_authenticated"})


class AuditLog:
    """EventSink writing each event as a structured log line.

    Through structlog's configured pipeline; when that is still the one :func:`configure_logging`
    set up, its processors run directly (:class:`_DirectPipeline`): the same line, without
    structlog's per-call logger layers (about 30 % of an audit line's instructions).
    """

    def __init__(self, logger: Any = None) -> None:
        self._default = logger is None
        self._log = logger or structlog.get_logger(AUDIT_LOGGER)

    def emit(self, event: object) -> None:
        kind = getattr(event, "kind", type(event).__name__)
        direct = _DIRECT if self._default else None
        if direct is not None and not direct.current():
            direct = None
        method = (
            "warning" if kind in _WARNING_KINDS else "debug" if kind in _DEBUG_KINDS else "info"
        )
        if direct is not None:
            if _LEVELS[method] < direct.level:
                return  # below the configured level: nothing to build
        elif method == "debug" and not _enabled(self._log, logging.DEBUG):
            return  # the usual case: nothing to build
        names = _field_names(type(event))
        fields: dict[str, Any] = (
            {name: getattr(event, name) for name in names}
            if names is not None
            else {"event_repr": repr(event)}
        )
        if direct is not None:
            direct.write(method, kind, fields)
        else:
            getattr(self._log, method)(kind, **fields)


class _DirectPipeline:
    """The processors, logger and level that :func:`configure_logging` gave structlog, run without
    structlog's bound-logger layers (lazy proxy, bind, level method, context copy): what
    ``structlog.get_logger(AUDIT_LOGGER).<method>(kind, **fields)`` writes, built the same way.

    Used only while structlog's configuration is still that one (:meth:`current`): anything that
    reconfigures structlog — ``structlog.testing.capture_logs`` swaps the processors in place, a
    later ``structlog.configure`` replaces them — sends audit events back through structlog.
    """

    __slots__ = ("_chain", "_factory", "_logger", "_processors", "_wrapper", "level")

    def __init__(self, processors: list[Any], factory: Any, wrapper: Any, level: int) -> None:
        self._chain, self._processors = processors, tuple(processors)
        self._factory, self._wrapper, self.level = factory, wrapper, level
        self._logger = factory(AUDIT_LOGGER)

    def current(self) -> bool:
        config = structlog.get_config()
        return (
            config["processors"] is self._chain
            and tuple(self._chain) == self._processors
            and config["logger_factory"] is self._factory
            and config["wrapper_class"] is self._wrapper
        )

    def write(self, method: str, event: str, fields: dict[str, Any]) -> None:
        event_dict: Any = fields
        event_dict["event"] = event
        for processor in self._processors:
            event_dict = processor(self._logger, method, event_dict)
        self._logger.msg(event_dict)


_DIRECT: _DirectPipeline | None = None
_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def _enabled(logger: Any, level: int) -> bool:
    """structlog's ``is_enabled_for`` (stdlib's ``isEnabledFor``); True when neither exists."""
    check = getattr(logger, "is_enabled_for", None) or getattr(logger, "isEnabledFor", None)
    return True if check is None else bool(check(level))


_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    """An event's field names: the core's events are msgspec Structs; a dataclass is read the
    same way (the events are flat: no ``asdict`` deep copy needed)."""
    try:
        return _FIELDS[cls]
    except KeyError:
        names: tuple[str, ...] | None = getattr(cls, "__struct_fields__", None)
        if names is None and dataclasses.is_dataclass(cls):
            names = tuple(f.name for f in dataclasses.fields(cls))
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
    global _DIRECT
    processors = [*shared, renderer]
    factory = _NamedWriteLoggerFactory(out)
    wrapper = structlog.make_filtering_bound_logger(level)
    structlog.configure(
        processors=processors,
        logger_factory=factory,
        wrapper_class=wrapper,
        cache_logger_on_first_use=True,
    )
    _DIRECT = _DirectPipeline(processors, factory, wrapper, level)
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
