"""The audit log: each core event is one JSON line on ``certbound.audit`` (or a console line),
written whole, with the event's fields and nothing secret; stdlib log lines share the format."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

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
