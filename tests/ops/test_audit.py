"""The audit log: each core event is one JSON line on ``certbound.audit`` (or a console line),
written whole, with the event's fields and nothing secret; stdlib log lines share the format."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import structlog
from structlog.testing import capture_logs

import certbound.ops.audit as audit_module
from certbound.core.events import ClientAuthenticated, ClientAuthFailed, TokenIssued
from certbound.ops.audit import AuditLog, configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


ISSUED = TokenIssued("c1", "jti-1", "client_credentials", ("read", "write"), "x5t-value")
FAILED = ClientAuthFailed("c1", "tls_client_auth", "untrusted", "no path to an anchor", "x5t")


def test_events_are_json_lines_with_their_fields(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(json_logs=True, stream=out)
    audit = AuditLog()
    audit.emit(ISSUED)
    audit.emit(FAILED)
    issued, failed = lines(out)
    assert issued.pop("timestamp").endswith("Z")
    assert issued == {"event": "token_issued", "level": "info", "logger": "certbound.audit",
                      "client_id": "c1", "jti": "jti-1", "grant_type": "client_credentials",
                      "scope": ["read", "write"], "cnf_thumbprint": "x5t-value"}  # fmt: skip
    assert (failed["event"], failed["level"], failed["reason"]) == (
        "client_auth_failed",
        "warning",
        "untrusted",
    )


def test_stdlib_lines_share_the_format_and_the_level_filters_both(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(json_logs=True, level=logging.WARNING, stream=out)
    AuditLog().emit(ISSUED)  # info: below the level
    AuditLog().emit(FAILED)
    logging.getLogger("certbound.server").info("not shown")
    logging.getLogger("certbound.server").warning("handshake failed: %s", "unknown ca")
    got = [(e["logger"], e["event"], e["level"]) for e in lines(out)]
    assert got == [
        ("certbound.audit", "client_auth_failed", "warning"),
        ("certbound.server", "handshake failed: unknown ca", "warning"),
    ]


def test_console_format_is_one_readable_line_per_event(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(json_logs=False, stream=out)
    AuditLog().emit(ISSUED)
    (line,) = out.getvalue().splitlines()
    assert "token_issued" in line and "client_id=c1" in line and "[certbound.audit]" in line


def test_a_dataclass_event_is_logged_with_its_fields(restore_logging: None) -> None:
    """The core's events are msgspec Structs; an event that is a dataclass reads the same."""
    out = io.StringIO()
    configure_logging(json_logs=True, stream=out)

    @dataclasses.dataclass(frozen=True)
    class KeyRotated:
        kind: ClassVar[str] = "key_rotated"
        kid: str

    AuditLog().emit(KeyRotated("k-2"))
    (line,) = lines(out)
    assert (line["event"], line["kid"]) == ("key_rotated", "k-2")


def test_a_non_dataclass_event_is_logged_by_its_repr(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(json_logs=True, stream=out)

    class Odd:
        kind = "odd_event"

        def __repr__(self) -> str:
            return "Odd()"

    AuditLog().emit(Odd())
    (line,) = lines(out)
    assert (line["event"], line["event_repr"]) == ("odd_event", "Odd()")


def test_timestamps_are_what_structlogs_iso_utc_stamper_writes(restore_logging: None) -> None:
    import datetime as dt
    import re

    out = io.StringIO()
    configure_logging(json_logs=True, stream=out)
    before = dt.datetime.now(dt.UTC)
    AuditLog().emit(ISSUED)
    after = dt.datetime.now(dt.UTC)
    (line,) = lines(out)
    stamp = line["timestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    parsed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert before - dt.timedelta(microseconds=1) <= parsed <= after


def test_a_stdlib_logger_can_be_the_audit_logger(caplog: pytest.LogCaptureFixture) -> None:
    class Adapter:  # a logger without structlog's is_enabled_for, filtering like stdlib does
        def __init__(self) -> None:
            self.std = logging.getLogger("certbound.audit.test")

        def isEnabledFor(self, level: int) -> bool:
            return self.std.isEnabledFor(level)

        def info(self, event: str, **fields: Any) -> None:
            self.std.info("%s %s", event, fields)

        def debug(self, event: str, **fields: Any) -> None:
            self.std.debug("%s %s", event, fields)

    audit = AuditLog(Adapter())
    with caplog.at_level(logging.INFO, logger="certbound.audit.test"):
        audit.emit(ISSUED)
        audit.emit(ClientAuthenticated("c1", "tls_client_auth", "x5t"))  # debug: filtered
    assert [r.getMessage().split()[0] for r in caplog.records] == ["token_issued"]


AUTHENTICATED = ClientAuthenticated("c1", "tls_client_auth", "x5t")


def _without_timestamps(out: io.StringIO) -> list[dict[str, Any]]:
    return [{k: v for k, v in line.items() if k != "timestamp"} for line in lines(out)]


@pytest.mark.parametrize("json_logs", [True, False], ids=["json", "console"])
@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.WARNING])
def test_the_direct_pipeline_writes_what_structlog_writes(
    restore_logging: None, json_logs: bool, level: int
) -> None:
    """AuditLog() runs configure_logging's processors itself; an AuditLog over the same structlog
    logger goes through structlog: the same lines, bound context variables included."""
    direct_out, structlog_out = io.StringIO(), io.StringIO()
    events = (ISSUED, FAILED, AUTHENTICATED)
    structlog.contextvars.bind_contextvars(request_id="r-1")
    try:
        configure_logging(json_logs=json_logs, level=level, stream=direct_out)
        assert audit_module._DIRECT is not None and audit_module._DIRECT.current()
        for event in events:
            AuditLog().emit(event)
        configure_logging(json_logs=json_logs, level=level, stream=structlog_out)
        for event in events:
            AuditLog(structlog.get_logger("certbound.audit")).emit(event)
    finally:
        structlog.contextvars.clear_contextvars()
    if json_logs:
        direct, through = _without_timestamps(direct_out), _without_timestamps(structlog_out)
        assert all(line["request_id"] == "r-1" for line in direct)
    else:  # console lines start with the timestamp
        direct = [line.split(" ", 1)[1] for line in direct_out.getvalue().splitlines()]
        through = [line.split(" ", 1)[1] for line in structlog_out.getvalue().splitlines()]
    assert direct == through
    assert len(direct) == {logging.DEBUG: 3, logging.INFO: 2, logging.WARNING: 1}[level]


def test_capture_logs_sees_audit_events_and_the_direct_pipeline_resumes_after(
    restore_logging: None,
) -> None:
    out = io.StringIO()
    configure_logging(json_logs=True, stream=out)
    audit = AuditLog()
    with capture_logs() as captured:
        audit.emit(ISSUED)
    audit.emit(FAILED)
    assert [(e["event"], e["log_level"]) for e in captured] == [("token_issued", "info")]
    assert [line["event"] for line in lines(out)] == ["client_auth_failed"]


def test_a_later_structlog_configuration_takes_the_audit_events(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(json_logs=True, stream=out)
    seen: list[str] = []

    def keep(_: Any, __: str, event_dict: dict[str, Any]) -> str:
        seen.append(event_dict["event"])
        return "kept"

    structlog.configure(processors=[keep], logger_factory=structlog.ReturnLoggerFactory())
    AuditLog().emit(ISSUED)
    assert seen == ["token_issued"] and out.getvalue() == ""
