"""Writing output files safely: only the path given, never over a file without `force`.

Each file is written to a temporary file in the destination folder and renamed into place,
so a reader never sees half a file and a failed export leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from harness.errors import ConfigError


def check_target(path: Path, *, force: bool) -> None:
    """The export may go to `path`: its folder exists, it is no folder, and it is new or forced."""
    if path.is_dir():
        raise ConfigError(f"--out {path} is a folder; give a file path")
    if not path.parent.is_dir():
        raise ConfigError(f"--out {path}: folder {path.parent} does not exist; create it first")
    if (path.exists() or path.is_symlink()) and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it")


@contextmanager
def _temporary(path: Path) -> Iterator[tuple[Path, TextIO]]:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide the file from its group
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield tmp, handle
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _move(tmp: Path, path: Path, *, force: bool) -> None:
    """Rename into place; without `force`, never over a file that appeared meanwhile."""
    try:
        if force:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise ConfigError(f"{path} already exists; pass --force to overwrite it") from None
        except OSError:
            if path.exists():
                raise ConfigError(f"{path} already exists; pass --force to overwrite it") from None
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextmanager
def _unwritable(path: Path) -> Iterator[None]:
    """A failure to write `path` (a full disk, no permission) as one line naming it."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ConfigError(f"cannot write {path}: {reason}") from exc


def write_files(
    targets: Sequence[tuple[Path, Callable[[TextIO], object]]], *, force: bool = False
) -> list[Path]:
    """Write every (path, writer) pair, or none: all are checked and written before any move."""
    for path, _ in targets:
        check_target(path, force=force)
    written: list[tuple[Path, Path]] = []
    try:
        for path, writer in targets:
            with _unwritable(path), _temporary(path) as (tmp, handle):
                writer(handle)
            written.append((tmp, path))
        for tmp, path in written:
            with _unwritable(path):
                _move(tmp, path, force=force)
    finally:
        for tmp, _ in written:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return [path for path, _ in targets]
