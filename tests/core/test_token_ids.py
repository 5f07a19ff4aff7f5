"""jti values: 128 CSPRNG bits each, base64url, never repeated: across pool refills, threads
and a fork (each worker of `serve --workers` must hand out its own)."""

from __future__ import annotations

import os
import re
import threading

from certbound.core.tokens import _ids
from certbound.core.tokens._ids import new_token_id


def test_ids_are_22_base64url_characters_and_distinct_across_refills() -> None:
    ids = [new_token_id() for _ in range(3 * _ids._POOL_BYTES // _ids._ID_BYTES + 7)]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_threads_never_get_the_same_id() -> None:
    out: list[list[str]] = [[] for _ in range(4)]

    def work(bucket: list[str]) -> None:
        bucket.extend(new_token_id() for _ in range(2000))

    threads = [threading.Thread(target=work, args=(b,)) for b in out]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for bucket in out for i in bucket]
    assert len(set(every)) == len(every) == 8000


def test_a_forked_child_does_not_reuse_the_parents_pool() -> None:
    new_token_id()  # the parent's pool now holds unread bytes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, ",".join(new_token_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split(",")
    os.waitpid(pid, 0)
    parent = [new_token_id() for _ in range(10)]
    assert len(child) == 10 and not set(child) & set(parent)
