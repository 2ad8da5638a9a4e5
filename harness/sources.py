"""Where a dataset's rows come from: local files, folders, globs or a cached HF dataset.

Finds the files behind a source and opens them with the `datasets` library in streaming
mode, offline only. `harness.data` turns the rows into Items.
"""

from __future__ import annotations

import glob
import importlib
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import DataError
from harness.records import (
    JsonValueError,
    check_unicode,
    csv_table,
    json_object,
    json_value,
    kind_of,
)

#: File suffix -> the `datasets` builder that reads it.
BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}

#: Column names tried, in order and case-insensitively, when a field is not mapped.

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Source:
    kind: str  # "file", "folder", "glob" or "hub"
    path: str  # what error messages name
    files: tuple[Path, ...] = ()  # local data files (empty for hub datasets)
    builder: str | None = None  # packaged builder for file and glob sources


def locate(source: str) -> Source:
    """Decide what `source` names: a local file, folder, glob or a Hugging Face dataset."""
    path = Path(source).expanduser()
    if path.is_file():
        return Source("file", str(path), (path,), _builder_of([path], source))
    if path.is_dir():
        files = _data_files(path)
        _builder_of(files, source)
        return Source("folder", str(path), tuple(files))
    if _GLOB_CHARS & set(source):
        matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
        files = [p for p in matches if p.is_file() and p.suffix.lower() in BUILDERS]
        if not files:
            raise DataError(f"no data files match '{source}'", path=source)
        return Source("glob", source, tuple(files), _builder_of(files, source))
    if _looks_like_path(source):
        raise DataError("file not found", path=source)
    return Source("hub", source)


def _looks_like_path(source: str) -> bool:
    if Path(source).suffix.lower() in BUILDERS or source.startswith((".", "/", "~", "\\")):
        return True
    return source.count("/") > 1 or "\\" in source or (os.sep != "/" and os.sep in source)


def _data_files(folder: Path) -> list[Path]:
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            p = Path(root, name)
            if not name.startswith(".") and p.suffix.lower() in BUILDERS:
                files.append(p)
    if not files:
        kinds = ", ".join(BUILDERS)
        raise DataError(f"no data files ({kinds}) in this folder", path=str(folder))
    return files


def _builder_of(files: list[Path], source: str) -> str:
    """The one builder that reads all `files`; mixed or unknown types are an error."""
    kinds = {p.suffix.lower() for p in files}
    unknown = kinds - set(BUILDERS)
    if unknown:
        supported = ", ".join(BUILDERS)
        raise DataError(
            f"unsupported file type {sorted(unknown)[0]} (use {supported})", path=source
        )
    builders = {BUILDERS[k] for k in kinds}
    if len(builders) > 1:
        raise DataError(f"mixed file types {sorted(kinds)}; keep one type per dataset", path=source)
    return builders.pop()


JSON_CHUNK_BYTES = 1 << 20
"""Bytes of JSON lines parsed at a time: datasets' 10 MB default costs ~80 MB of peak memory."""


def _hf_datasets() -> Any:
    """Import `datasets` (slow, so only when needed) with its progress bars and logs off."""
    from huggingface_hub.utils import logging as hub_logging

    # Through importlib: a bare `import datasets` makes type checkers and linters resolve
    # the project's own datasets/ data folder instead of the library. USE_TORCH=0 while it
    # is imported: otherwise `datasets` imports torch on loading (4 s and 200 MB here) for
    # tensor formatting that harness never uses. Restored at once, so transformers is unaffected.
    saved = os.environ.get("USE_TORCH")
    os.environ["USE_TORCH"] = "0"
    try:
        datasets: Any = importlib.import_module("datasets")
    finally:
        if saved is None:
            del os.environ["USE_TORCH"]
        else:
            os.environ["USE_TORCH"] = saved
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    hub_logging.set_verbosity_error()
    return datasets


@contextmanager
def _offline() -> Iterator[None]:
    """Forbid network access by `datasets` and the Hub client for the enclosed calls."""
    from huggingface_hub import constants as hub_constants

    ds_config: Any = importlib.import_module("datasets.config")

    env = {k: os.environ.get(k) for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")}
    saved = (ds_config.HF_HUB_OFFLINE, ds_config.HF_DATASETS_OFFLINE, hub_constants.HF_HUB_OFFLINE)
    os.environ.update(dict.fromkeys(env, "1"))
    ds_config.HF_HUB_OFFLINE = ds_config.HF_DATASETS_OFFLINE = hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        ds_config.HF_HUB_OFFLINE, ds_config.HF_DATASETS_OFFLINE = saved[:2]
        hub_constants.HF_HUB_OFFLINE = saved[2]
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_source(src: Source, split: str) -> Any:
    """The streaming `IterableDataset` for a located source."""
    datasets = _hf_datasets()
    with _offline():
        try:
            if src.kind == "hub":
                return _load_hub(datasets, src.path, split)
            if src.kind == "folder":
                files = _folder_split(src, split)
            elif split != "train":
                raise DataError(
                    f"split '{split}' does not apply: a file or glob is one split ('train')",
                    path=src.path,
                )
            else:
                files = list(src.files)
            builder = _builder_of(files, src.path)
            if all(p.suffix.lower() in JSON_LINES for p in files):
                return JsonLines(files)
            options = _csv_options(datasets, files) if builder == "csv" else {}
            if builder == "json":
                options["chunksize"] = JSON_CHUNK_BYTES
            if len(files) > 1:
                return LibraryFiles(files, builder, options)
            return _load_file(datasets, builder, files[0], options)
        except DataError:
            raise
        except StopIteration as exc:  # raised by `datasets` for an empty JSON file
            raise DataError("no rows", path=src.path) from exc
        except ValueError as exc:  # bad split, unknown config: the message says which
            raise DataError(str(exc).strip(), path=src.path) from exc
        except Exception as exc:
            raise DataError(f"cannot open the data: {_last_line(exc)}", path=src.path) from exc


def _csv_options(datasets: Any, files: list[Path]) -> dict[str, Any]:
    """Read every CSV cell as the text written there: ids like 007 keep their zeros and
    answers like "None" or "NA" stay answers; only empty cells are missing."""
    header = _check_csv(files[0])
    for path in files[1:]:
        if _check_csv(path) != header:
            raise DataError(f"its header differs from {files[0].name}'s", path=str(path))
    features = datasets.Features({name: datasets.Value("string") for name in header})
    return {"features": features, "keep_default_na": False, "na_values": [""], "index_col": False}


JSON_LINES = frozenset({".jsonl", ".ndjson"})


def _load_file(datasets: Any, builder: str, path: Path, options: dict[str, Any]) -> Any:
    """One file as a streaming `IterableDataset` of the packaged `builder`."""
    if builder == "json" and _has_surrogate_escape(path):
        bad = _find_bad_json(path)  # pyarrow drops a lone surrogate without a word
        if bad is not None:
            raise bad
    return datasets.load_dataset(
        builder, data_files=[str(path)], split="train", streaming=True, **options
    )


class FileRows(ABC):
    """Rows of several files, read one file after another, so that `locate` can say which
    file a row came from and its own row number there."""

    features: Any = None

    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self._starts: list[tuple[int, Path]] = []
        """(rows read before the file, file), in reading order."""

    def locate(self, row: int) -> tuple[str, int]:
        """The file a row (counted from 1 across all files) came from, and its row there."""
        for before, path in reversed(self._starts):
            if row > before:
                return str(path), row - before
        return str(self.files[0]), row

    def iter(self, batch_size: int) -> Iterator[dict[str, list[Any]]]:
        rows = 0
        for k, path in enumerate(self.files):
            if k == len(self._starts):  # the same every pass: kept when a pass stops early
                self._starts.append((rows, path))
            for batch in self._batches(path, batch_size):
                rows += len(next(iter(batch.values()), ()))
                yield batch

    @abstractmethod
    def _batches(self, path: Path, batch_size: int) -> Iterator[dict[str, list[Any]]]:
        """One file's rows, `batch_size` at a time, as columns."""


class JsonLines(FileRows):
    """JSON-lines files read one line at a time: streamed, and every value as written.

    (`datasets` fixes each column's type from the first chunk of a file and re-reads later
    chunks to fit it: a list answer after a thousand text answers turned the text answers
    of that chunk into JSON-quoted strings. Here a row is exactly its line.) A batch holds
    the union of its rows' columns; a column a row lacks is None there.
    """

    def _batches(self, path: Path, batch_size: int) -> Iterator[dict[str, list[Any]]]:
        batch: list[dict[str, Any]] = []
        with path.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    batch.append(json_object(line))
                except ValueError as exc:
                    raise DataError(f"line {number}: {exc}", path=str(path)) from exc
                if len(batch) >= batch_size:
                    yield _columns(batch)
                    batch = []
        if batch:
            yield _columns(batch)


class LibraryFiles(FileRows):
    """CSV, Parquet or JSON files read by `datasets`, one streaming dataset per file; a
    file that cannot be read, or whose columns differ from the first file's, is named."""

    def __init__(self, files: list[Path], builder: str, options: dict[str, Any]) -> None:
        super().__init__(files)
        self._builder, self._options = builder, options
        self._datasets = _hf_datasets()
        self._first = self._open(files[0])
        self.features = self._first.features

    def _open(self, path: Path) -> Any:
        with _offline():
            try:
                return _load_file(self._datasets, self._builder, path, self._options)
            except Exception as exc:
                raise DataError(f"cannot open the data: {_last_line(exc)}", path=str(path)) from exc

    def _batches(self, path: Path, batch_size: int) -> Iterator[dict[str, list[Any]]]:
        data = self._first if path == self.files[0] else self._open(path)
        if self.features is not None and data.features is not None:
            first, here = set(self.features), set(data.features)
            if first != here:
                raise DataError(
                    f"its columns differ from {self.files[0].name}'s: "
                    + _column_difference(sorted(here - first), sorted(first - here)),
                    path=str(path),
                )
        batches = iter(data.iter(batch_size=batch_size))
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except Exception as exc:
                raise read_error(exc, [path], str(path)) from exc
            yield batch


def _column_difference(extra: list[str], lacking: list[str]) -> str:
    parts = [f"{label} {', '.join(map(repr, names))}"
             for label, names in (("has", extra), ("lacks", lacking)) if names]  # fmt: skip
    return "; ".join(parts)


def read_error(exc: Exception, files: Iterable[Path], path: str) -> DataError:
    """A reader failure as a DataError naming the file (and the line, for JSON files)."""
    for file in files:
        if file.suffix in (".jsonl", ".json"):
            bad = _find_bad_json(file)
            if bad is not None:
                return bad
    return DataError(f"cannot read the data: {_last_line(exc)}", path=path)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _has_surrogate_escape(path: Path, block: int = 1 << 24) -> bool:
    """Whether the file holds a `\\uD800`-`\\uDFFF` escape (paired or not), read in blocks."""
    tail = b""
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(block):
                if _SURROGATE_ESCAPE.search(tail + chunk):
                    return True
                tail = chunk[-5:]
    except OSError:
        return False  # the reader reports it
    return False


def _find_bad_json(path: Path) -> DataError | None:
    """The first record of a JSON or JSON-lines file that will not parse, or that is no
    object, as a DataError naming its line (JSON lines) or its row (a JSON array)."""
    if path.suffix == ".json":
        try:
            return _bad_array_row(json_value(path.read_text(encoding="utf-8")), path)
        except json.JSONDecodeError as exc:
            if not exc.msg.startswith("Extra data"):  # a broken document, not JSON lines
                return DataError(f"line {exc.lineno}: invalid JSON: {exc.msg}", path=str(path))
        except JsonValueError as exc:
            return _bad_array_text(path) or DataError(str(exc), path=str(path))
        except (OSError, UnicodeDecodeError) as exc:
            return DataError(f"line 1: cannot read: {exc}", path=str(path))
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    json_object(line)
                except ValueError as exc:
                    return DataError(f"line {number}: {exc}", path=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        return DataError(f"line 1: cannot read: {exc}", path=str(path))
    return None


def _bad_array_text(path: Path) -> DataError | None:
    """The row and field of a JSON array dataset holding text that is no Unicode."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError):  # too deep or too long a number: no row to name
        return None
    for row, record in enumerate(document if isinstance(document, list) else [], 1):
        try:
            check_unicode(record)
        except JsonValueError as exc:
            return DataError(exc.detail, path=str(path), row=row, field=exc.field)
    return None


def _bad_array_row(document: Any, path: Path) -> DataError | None:
    """The first element of a JSON array dataset that is no object (a row must be one)."""
    if not isinstance(document, list):
        return None
    for row, record in enumerate(document, 1):
        if not isinstance(record, dict):
            return DataError(
                f"expected a JSON object, got {kind_of(record)}", path=str(path), row=row
            )
    return None


def _last_line(exc: Exception) -> str:
    """The last line of an exception's message (library errors put the cause there)."""
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    names = list(dict.fromkeys(name for row in rows for name in row))
    return {name: [row.get(name) for row in rows] for name in names}


def _check_csv(path: Path) -> list[str]:
    """The header, after one streaming pass that finds what a CSV reader would misread
    silently: a column named twice, a row with more or fewer fields than the header (a
    trailing comma would shift every cell of the row by one), a quote never closed."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header, records = csv_table(handle, str(path))
        if not header:
            raise DataError("no rows", path=str(path))
        unnamed = [str(k + 1) for k, name in enumerate(header) if not name.strip()]
        if unnamed:
            raise DataError(
                f"column {', '.join(unnamed)} of the header has no name (a trailing comma?)",
                path=str(path),
            )
        twice = sorted({name for name in header if header.count(name) > 1})
        if twice:
            raise DataError(f"the header names {', '.join(map(repr, twice))} twice", path=str(path))
        for _ in records:
            pass
    return header


def _folder_split(src: Source, split: str) -> list[Path]:
    """The folder's files for `split`, by the Hugging Face naming rules (`test.jsonl`,
    `train/`, ...); when no file or folder is named after a split, all are 'train'."""
    data_files: Any = importlib.import_module("datasets.data_files")
    suffixes = sorted({p.suffix.lower() for p in src.files})
    splits: dict[str, list[Path]] = {}
    for name, patterns in data_files.get_data_patterns(src.path).items():
        try:
            found = data_files.DataFilesList.from_patterns(
                patterns, base_path=src.path, allowed_extensions=suffixes
            )
        except FileNotFoundError:  # the split's files are all of other types
            continue
        if found:
            splits[str(name)] = [Path(f) for f in found]
    if split not in splits:
        listing = ", ".join(splits) or "none"
        raise DataError(f"no split '{split}' in this folder (splits: {listing})", path=src.path)
    placed = {p.resolve() for files in splits.values() for p in files}
    stray = sorted(p.name for p in src.files if p.resolve() not in placed)
    if stray:
        raise DataError(
            f"{', '.join(stray)} belong(s) to no split, while other files are named after "
            f"splits ({', '.join(splits)}): rename them (train*, test*, validation*) or name "
            "one file or a glob instead of the folder",
            path=src.path,
        )
    return splits[split]


def _load_hub(datasets: Any, source: str, split: str) -> Any:
    """A dataset from the local HF caches, never the network; `name:config` picks a config."""
    name, _, config = source.partition(":")
    try:
        return datasets.load_dataset(name, config or None, split=split, streaming=True)
    except ValueError:
        raise
    except Exception as exc:
        snapshot = _hub_snapshot(name)
        if snapshot is not None:
            return datasets.load_dataset(str(snapshot), config or None, split=split, streaming=True)
        cache = datasets.config.HF_DATASETS_CACHE
        raise DataError(
            f"'{source}' is neither a local path nor a dataset in the Hugging Face cache ({cache})."
            f' On a connected machine run python -c "import datasets;'
            f" datasets.load_dataset('{name}')\" and copy the cache here, or pass a data file"
            " (.jsonl, .json, .csv, .parquet)",
            path=source,
        ) from exc


def _hub_snapshot(name: str) -> Path | None:
    """The newest downloaded snapshot of a Hub dataset repo (huggingface_hub's cache)."""
    from huggingface_hub import constants as hub_constants

    if name.count("/") != 1:
        return None
    root = Path(hub_constants.HF_HUB_CACHE, "datasets--" + name.replace("/", "--"), "snapshots")
    snapshots = [p for p in root.glob("*") if p.is_dir()] if root.is_dir() else []
    return max(snapshots, key=lambda p: p.stat().st_mtime) if snapshots else None


# -- values --------------------------------------------------------------------------------
