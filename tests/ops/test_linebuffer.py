"""LoopBatchedStream: log lines leave once per event-loop step, in order, before the response
bytes written in the same step; at once outside a loop."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from certbound.ops._linebuffer import _LIMIT, LoopBatchedStream


class Recording(io.StringIO):
    def __init__(self, events: list[Any]) -> None:
        super().__init__()
        self.events = events

    def write(self, text: str) -> int:
        self.events.append(("write", text))
        return super().write(text)


def test_outside_a_loop_each_line_is_written_at_once() -> None:
    events: list[Any] = []
    stream = LoopBatchedStream(Recording(events))
    stream.write("a\n")
    stream.flush()
    stream.write("b\n")
    assert events == [("write", "a\n"), ("write", "b\n")]


async def test_in_a_loop_the_lines_of_one_step_leave_together_before_a_later_callback() -> None:
    events: list[Any] = []
    stream = LoopBatchedStream(Recording(events))
    loop = asyncio.get_running_loop()
    stream.write("token_issued 1\n")
    loop.call_soon(events.append, "response bytes")  # what the transport schedules afterwards
    stream.write("token_issued 2\n")
    assert events == []  # held until the step ends
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert events == [("write", "token_issued 1\ntoken_issued 2\n"), "response bytes"]
    stream.write("next step\n")
    await asyncio.sleep(0)
    assert events[-1] == ("write", "next step\n")


async def test_a_large_backlog_is_written_without_waiting_and_drain_empties_it() -> None:
    events: list[Any] = []
    stream = LoopBatchedStream(Recording(events))
    stream.write("x" * _LIMIT)
    assert events == [("write", "x" * _LIMIT)]
    stream.write("held\n")
    stream.drain()
    assert events[-1] == ("write", "held\n")
    await asyncio.sleep(0)  # the scheduled callback finds nothing left
    assert len(events) == 2


def test_a_loop_closed_before_its_drain_ran_does_not_strand_the_next_loops_lines() -> None:
    events: list[Any] = []
    stream = LoopBatchedStream(Recording(events))
    first = asyncio.new_event_loop()
    first.call_soon(stream.write, "from a loop that stops at once\n")  # schedules its drain...
    first.call_soon(first.stop)  # ...for a step that never comes
    first.run_forever()
    first.close()
    assert events == []

    async def write_next() -> None:
        stream.write("next\n")
        await asyncio.sleep(0)

    second = asyncio.new_event_loop()
    try:
        second.run_until_complete(write_next())
    finally:
        second.close()
    assert events == [("write", "from a loop that stops at once\nnext\n")]
