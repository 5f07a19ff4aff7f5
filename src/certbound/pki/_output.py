"""All-or-nothing output: every file goes to a temp file beside its target, then all are renamed.

Private keys are created ``0600`` (``mkstemp``), certificates ``0644``. Without ``force`` an
existing target is refused before anything is written, and the final step links without
replacing, so a file that appears meanwhile is not clobbered. On any failure the temp files and
the targets created so far are removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from certbound.pki._errors import PkiError

__all__ = ["OutputFile", "check_outputs", "write_outputs"]


@dataclass(frozen=True, slots=True)
class OutputFile:
    path: Path
    data: bytes
    private: bool = False


def check_outputs(paths: Sequence[Path], *, force: bool) -> None:
    """Refuse missing directories and (unless ``force``) existing files, before any work."""
    if len(set(paths)) != len(paths):
        raise PkiError("two outputs would be written to the same file")
    for path in paths:
        if not path.parent.is_dir():
            raise PkiError(f"output directory {path.parent} does not exist")
        if path.is_dir():
            raise PkiError(f"{path} is a directory")
        if path.exists() and not force:
            raise PkiError(f"{path} already exists (use --force to overwrite)")


def _stage(item: OutputFile) -> Path:
    """Write ``item`` to a temp file beside its target; an OSError names the target."""
    try:
        fd, name = tempfile.mkstemp(
            dir=item.path.parent, prefix=f".{item.path.name}.", suffix=".tmp"
        )
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(item.path)) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            if not item.private:
                os.fchmod(fh.fileno(), 0o644)
            fh.write(item.data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _commit(temp: Path, target: Path, *, force: bool) -> None:
    if force:
        temp.replace(target)
        return
    try:
        os.link(temp, target)
    except FileExistsError:
        raise PkiError(f"{target} already exists (use --force to overwrite)") from None
    except OSError:  # no hard links on this file system: check, then rename
        if target.exists():
            raise PkiError(f"{target} already exists (use --force to overwrite)") from None
        temp.replace(target)
        return
    temp.unlink()


def write_outputs(files: Sequence[OutputFile], *, force: bool) -> None:
    """Write ``files`` all together or not at all (see the module docstring)."""
    check_outputs([f.path for f in files], force=force)
    staged: list[tuple[Path, Path]] = []
    created: list[Path] = []
    try:
        for item in files:
            staged.append((_stage(item), item.path))
        for temp, target in staged:
            existed = target.exists()
            _commit(temp, target, force=force)
            if not existed:
                created.append(target)
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        for target in created:
            with contextlib.suppress(OSError):
                target.unlink()
        raise
