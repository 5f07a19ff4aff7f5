"""All-or-nothing output: modes, refusals, and no partial result on failure."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from certbound.pki import OutputFile, PkiError, check_outputs, write_outputs


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _files(tmp_path: Path) -> list[OutputFile]:
    return [
        OutputFile(tmp_path / "a.key", b"secret", private=True),
        OutputFile(tmp_path / "a.pem", b"cert"),
    ]


def test_writes_every_file_with_its_mode(tmp_path: Path) -> None:
    write_outputs(_files(tmp_path), force=False)
    assert (tmp_path / "a.key").read_bytes() == b"secret"
    assert _mode(tmp_path / "a.key") == 0o600
    assert _mode(tmp_path / "a.pem") == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.key", "a.pem"]


def test_existing_file_refuses_all_without_force(tmp_path: Path) -> None:
    (tmp_path / "a.pem").write_bytes(b"old")
    with pytest.raises(
        PkiError, match=re.escape(f"{tmp_path / 'a.pem'} already exists (use --force")
    ):
        write_outputs(_files(tmp_path), force=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pem"]
    assert (tmp_path / "a.pem").read_bytes() == b"old"


def test_force_replaces_and_tightens_key_mode(tmp_path: Path) -> None:
    (tmp_path / "a.key").write_bytes(b"old")
    (tmp_path / "a.key").chmod(0o644)
    write_outputs(_files(tmp_path), force=True)
    assert (tmp_path / "a.key").read_bytes() == b"secret"
    assert _mode(tmp_path / "a.key") == 0o600


def test_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        PkiError, match=re.escape(f"output directory {tmp_path / 'no'} does not exist")
    ):
        check_outputs([tmp_path / "no" / "x.pem"], force=False)


def test_directory_as_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.pem").mkdir()
    with pytest.raises(PkiError, match=r"x\.pem is a directory"):
        check_outputs([tmp_path / "x.pem"], force=True)


def test_same_target_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="two outputs would be written to the same file"):
        check_outputs([tmp_path / "x.pem", tmp_path / "x.pem"], force=False)


def test_failure_while_staging_leaves_nothing(tmp_path: Path) -> None:
    bad = OutputFile(tmp_path / "b.pem", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        write_outputs([*_files(tmp_path), bad], force=False)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_directory_names_the_target() -> None:
    with pytest.raises(OSError, match=r"/proc/x\.pem"):
        write_outputs([OutputFile(Path("/proc/x.pem"), b"x")], force=False)


def test_file_appearing_during_commit_rolls_back_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A race: the second target is created by someone else between the check and the link."""
    real_link = os.link
    calls: list[str] = []

    def racing_link(src: str, dst: str) -> None:
        calls.append(str(dst))
        if len(calls) == 2:
            Path(dst).write_bytes(b"theirs")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", racing_link)
    with pytest.raises(PkiError, match=r"a\.pem already exists"):
        write_outputs(_files(tmp_path), force=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pem"]
    assert (tmp_path / "a.pem").read_bytes() == b"theirs"


def test_file_systems_without_hard_links_fall_back_to_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: str, dst: str) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    write_outputs(_files(tmp_path), force=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.key", "a.pem"]
