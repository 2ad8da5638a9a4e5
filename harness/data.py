"""Datasets: local files, folders, globs or cached Hugging Face datasets, streamed as Items.

Everything goes through the `datasets` library in streaming mode, so no dataset is ever
loaded whole, and never over the network: a dataset name is looked up in the local caches
only. Row numbers (`Item.row`, and `row` in a `DataError`) count data records from 1 across
the whole source: in a JSON-lines file without blank lines, row N is line N; in a CSV file,
row N is the record after the header, i.e. line N + 1.

CSV cells are read as the text written there (ids like 007 keep their zeros); JSON and
Parquet keep their types. A folder follows the Hugging Face naming rules for splits
(`train.jsonl`, `test/...`); when nothing in it is named after a split, every file is 'train'.
"""

from __future__ import annotations

import hashlib
import json
import math
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import numpy as np

from harness.errors import ConfigError, DataError
from harness.item import EITHER_GROUNDING, Item
from harness.records import kind_of
from harness.sources import Source, load_source, locate, read_error


@dataclass(frozen=True)
class Need:
    """Who needs an item field, and options that would let them do without it (for the
    error that says the field is missing)."""

    scorers: tuple[str, ...] = ()
    instead: tuple[str, ...] = ()


Needs = Iterable[str] | Mapping[str, Need]
"""Item fields every row must have, or each mapped to who needs it."""
Checks = Mapping[str, Callable[[Any], object]] | None
"""Metadata fields, each with a function raising ValueError for a value the run cannot use."""

INPUT_NAMES = ("input", "prompt", "question", "query", "instruction", "text")
REFERENCE_NAMES = (
    "reference", "references", "answer", "answers", "best_answer",
    "target", "expected", "ideal", "output", "label",
)  # fmt: skip
CONTEXT_NAMES = ("context", "document", "passage", "article", "knowledge", "src")
ID_NAMES = ("id", "item_id", "uid", "example_id", "idx")

_BATCH = 1000


@dataclass(frozen=True)
class FieldMapping:
    """Which columns hold each field; None (or no references) means detect it."""

    input: str | None = None
    references: tuple[str, ...] = ()
    context: str | None = None
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain form for the run config."""
        return {
            "input": self.input,
            "references": list(self.references),
            "context": self.context,
            "id": self.id,
        }


@dataclass(frozen=True)
class DatasetInfo:
    """What one validation pass learned: row count and a content fingerprint."""

    n_rows: int
    fingerprint: str


class Dataset:
    """A streamed dataset with its columns resolved onto Item fields."""

    def __init__(
        self, source: str, src: Source, split: str, hf: Any, mapping: FieldMapping,
        limit: int | None,
    ) -> None:  # fmt: skip
        self.source = source
        self.split = split
        self.limit = limit
        self._src = src
        self._hf = hf
        self.path = src.path
        self.columns = self._read_columns()
        self.mapping = _resolve(mapping, self.columns, self.path)
        m = self.mapping
        self._mapped = {c for c in (m.input, m.context, m.id, *m.references) if c}
        self.metadata_columns = [c for c in self.columns if c not in self._mapped]

    def fields(self) -> list[str]:
        """Names a template may use: mapped fields, then metadata columns."""
        names = ["input", "id"]
        if self.mapping.references:
            names += ["reference", "references"]
        if self.mapping.context:
            names.append("context")
        return names + [c for c in self.metadata_columns if c not in names]

    def describe(self) -> dict[str, Any]:
        """Where the data came from and how it was mapped, for the run config."""
        return {
            "source": self.source,
            "kind": self._src.kind,
            "split": self.split,
            "limit": self.limit,
            "columns": list(self.columns),
            "mapping": self.mapping.to_dict(),
        }

    def __iter__(self) -> Iterator[Item]:
        try:
            for n, row in self._rows():
                yield self._item(row, n)
        except DataError as exc:
            raise self._located(exc) from exc

    def _located(self, exc: DataError) -> DataError:
        """The error naming the file and its own row, where the reader knows them (JSON lines
        from a glob or a folder), rather than the pattern and a row counted across files."""
        locate = getattr(self._hf, "locate", None)
        if exc.row is None or exc.path != self.path or locate is None:
            return exc
        path, row = locate(exc.row)
        return DataError(exc.detail, path=path, row=row, field=exc.field)

    def _where(self, row: int) -> str:
        """`row N`, or `FILE row N` where the reader knows which file a row came from."""
        locate = getattr(self._hf, "locate", None)
        if locate is None:
            return f"row {row}"
        path, own = locate(row)
        return f"row {own}" if path == self.path else f"{path} row {own}"

    def validate(
        self, *, needs: Needs = (), placeholders: Iterable[str] = (), checks: Checks = None
    ) -> DatasetInfo:
        """Check every row in one streaming pass (see `_validate`)."""
        try:
            return self._validate(needs=needs, placeholders=placeholders, checks=checks)
        except DataError as exc:
            raise self._located(exc) from exc

    def _validate(
        self,
        *,
        needs: Needs = (),
        placeholders: Iterable[str] = (),
        checks: Checks = None,
    ) -> DatasetInfo:
        """Check every row in one streaming pass; raise the first problem as a DataError.

        `needs`: item fields every row must have: "reference", "context", or
        "context|reference" (either one, as grounded scorers with source=auto need); a
        mapping names the scorers that need each, for the error.
        `placeholders`: metadata fields a prompt template names; a row without a value for
        one would be sent a prompt with a hole in it.
        `checks`: metadata field -> a function that raises ValueError, saying why, for a
        value the run cannot use (a replayed response that is no text).
        """
        named = sorted(set(placeholders) - {"id", "input", "reference", "references", "context"})
        wanted = set(needs)
        need_ref = bool(wanted & {"reference", "references"})
        need_ctx = "context" in wanted
        need_either = EITHER_GROUNDING in wanted and not (need_ref or need_ctx)
        who = needs if isinstance(needs, Mapping) else {}
        if need_ref and not self.mapping.references:
            raise self._missing_column("reference", "--reference-field", who)
        if need_ctx and not self.mapping.context:
            raise self._missing_column("context", "--context-field", who)
        if need_either and not (self.mapping.context or self.mapping.references):
            raise self._missing_column(
                EITHER_GROUNDING, "--context-field or --reference-field", who
            )
        keys = array("Q")  # 8 bytes an id: duplicates are found after the pass
        digest = hashlib.sha256()
        n = 0
        for n, row in self._rows():
            digest.update(_canonical(row).encode())
            digest.update(b"\n")
            item = self._item(row, n)
            if need_ref and not item.references:
                field = ", ".join(self.mapping.references)
                raise DataError(
                    "no reference answer, which a chosen scorer needs: fill it in, or leave "
                    "out the scorers that need references",
                    path=self.path,
                    row=n,
                    field=field,
                )
            if need_ctx and not item.context:
                raise DataError(
                    "context is empty, and a chosen scorer checks the response against it",
                    path=self.path,
                    row=n,
                    field=self.mapping.context,
                )
            if need_either and not item.has_grounding():
                fields = [*filter(None, [self.mapping.context]), *self.mapping.references]
                raise DataError(
                    "neither a context nor a reference to check the response against",
                    path=self.path,
                    row=n,
                    field=", ".join(fields),
                )
            for name in named:
                if item.metadata.get(name) is None:
                    raise DataError(
                        f"the template uses {{{{{name}}}}} but this row has no value for it",
                        path=self.path,
                        row=n,
                        field=name,
                    )
            for name, check in (checks or {}).items():
                try:
                    check(item.metadata.get(name))
                except ValueError as exc:
                    raise DataError(str(exc), path=self.path, row=n, field=name) from exc
            keys.append(_id_key(item.id))
        if n == 0:
            raise DataError("no rows: the data holds no record to evaluate", path=self.path)
        self._check_duplicates(keys)
        return DatasetInfo(n_rows=n, fingerprint=digest.hexdigest())

    # -- internals -------------------------------------------------------------------------

    def _rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(row number, raw row) pairs, honouring the limit; read errors become DataErrors."""
        size = min(_BATCH, self.limit) if self.limit else _BATCH
        batches = iter(self._hf.iter(batch_size=size))
        n = 0
        while self.limit is None or n < self.limit:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except DataError:
                raise
            except Exception as exc:
                raise self._read_error(exc) from exc
            names = list(batch)
            for values in zip(*(batch[c] for c in names), strict=True):
                if self.limit is not None and n >= self.limit:
                    return
                n += 1
                yield n, dict(zip(names, values, strict=True))

    def _read_columns(self) -> list[str]:
        features = self._hf.features
        if features is not None and len(features):
            return list(features)
        for _, row in self._rows():
            return list(row)
        raise DataError("no rows", path=self.path)

    def _item(self, row: dict[str, Any], n: int) -> Item:
        m = self.mapping
        assert m.input is not None
        text = self._text(row.get(m.input), n, m.input)
        if text is None:
            raise DataError("input is missing or empty", path=self.path, row=n, field=m.input)
        refs: list[str] = []
        for col in m.references:
            refs.extend(self._strings(row.get(col), n, col))
        context = None
        if m.context:
            parts = self._strings(row.get(m.context), n, m.context)
            context = "\n".join(parts) if parts else None
        metadata = {k: _jsonable(v) for k, v in row.items() if k not in self._mapped}
        if m.id:
            try:
                item_id = id_text(row.get(m.id))
            except ValueError as exc:
                raise DataError(str(exc), path=self.path, row=n, field=m.id) from exc
            if item_id is None:
                raise DataError("id is missing or empty", path=self.path, row=n, field=m.id)
        else:
            item_id = content_id(text, refs, context, metadata)
        return Item(
            id=item_id, input=text, references=tuple(refs), context=context,
            metadata=metadata, row=n,
        )  # fmt: skip

    def _text(self, value: Any, n: int, column: str) -> str | None:
        """A cell as text: None when missing or blank; numbers become strings."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, str):
            return value if value.strip() else None
        if isinstance(value, int | float | Decimal):
            return str(value)
        raise DataError(f"expected text, got {kind_of(value)}", path=self.path, row=n, field=column)

    def _strings(self, value: Any, n: int, column: str) -> list[str]:
        """A cell holding one string or a list of strings, without the empty ones."""
        if isinstance(value, dict) and "text" in value:  # SQuAD-style {"text": [...], ...}
            value = value["text"]
        values = value if isinstance(value, list | tuple) else [value]
        texts = (self._text(v, n, column) for v in values)
        return [t for t in texts if t is not None]

    def _missing_column(self, need: str, option: str, who: Mapping[str, Need]) -> DataError:
        field = "context or reference" if need == EITHER_GROUNDING else need
        needed = who.get(need, Need())
        subject = " and ".join(needed.scorers) if needed.scorers else "a scorer"
        message = (
            f"{subject} {'need' if len(needed.scorers) > 1 else 'needs'} a {field} but no "
            f"{field} column was found (columns: {', '.join(self.columns)}); name it with "
            f"{option}"
        )
        if need == "context" and self.mapping.references and needed.instead:
            message += ", or check against the reference answers: " + " ".join(needed.instead)
        return DataError(message, path=self.path, field=field)

    def _check_duplicates(self, keys: array[int]) -> None:
        """Raise for the first repeated id, if any (64-bit id hashes sorted with numpy)."""
        ordered = np.sort(np.frombuffer(keys, dtype=np.uint64))
        repeated = set(ordered[1:][ordered[1:] == ordered[:-1]].tolist())
        if not repeated:
            return
        seen: set[int] = set()
        for n, raw in self._rows():
            item_id = self._item(raw, n).id
            key = _id_key(item_id)
            if key in repeated:
                if key in seen:
                    self._check_duplicate(item_id, n)
                seen.add(key)

    def _check_duplicate(self, item_id: str, row: int) -> None:
        """Re-scan for the first row with this id; raise if it really is a duplicate."""
        for n, raw in self._rows():
            if n >= row:
                return  # a 64-bit hash collision between different ids
            if self._item(raw, n).id == item_id:
                how = (
                    ": give every row its own id"
                    if self.mapping.id
                    else " (same content; add an id column to keep both)"
                )
                first, again = self._where(n), self._where(row)
                if first.startswith("row ") and again.startswith("row "):
                    places = f"rows {first[4:]} and {again[4:]}"
                else:
                    places = f"{first} and {again}"
                raise DataError(
                    f"duplicate id '{item_id}' at {places}{how}",
                    path=self.path,
                    row=row,
                    field=self.mapping.id or "id",
                )

    def _read_error(self, exc: Exception) -> DataError:
        """Turn a reader failure into a DataError naming the file (and line, for JSON)."""
        return read_error(exc, self._src.files, self.path)


def open_dataset(
    source: str,
    mapping: FieldMapping = FieldMapping(),
    *,
    split: str | None = None,
    limit: int | None = None,
) -> Dataset:
    """Open `source` as a stream: a data file, folder, glob, or a cached HF dataset name.

    Columns are read and the mapping resolved at once; rows are read only when iterated.
    `limit` caps the number of rows that iteration and validation see.
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be a positive number of rows, got {limit}")
    src = locate(source)
    chosen = split or "train"
    hf = load_source(src, chosen)
    return Dataset(source, src, chosen, hf, mapping, limit)


def content_id(
    text: str, references: Iterable[str], context: str | None, metadata: dict[str, Any]
) -> str:
    """A stable id for a row without one: 16 hex chars of its content's sha256."""
    payload = {
        "input": text,
        "references": list(references),
        "context": context,
        "metadata": metadata,
    }
    return hashlib.sha256(_dumps(payload).encode()).hexdigest()[:16]


# -- mapping columns onto fields ----------------------------------------------------------


def _norm(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _resolve(mapping: FieldMapping, columns: list[str], path: str) -> FieldMapping:
    """Check the named columns and detect the unnamed ones; return actual column names."""
    listing = ", ".join(columns)
    used: set[str] = set()

    def named(field: str, name: str) -> str:
        if name in columns:
            column = name
        else:
            close = [c for c in columns if _norm(c) == _norm(name)]
            if len(close) != 1:
                raise DataError(f"no column '{name}' (columns: {listing})", path=path, field=field)
            column = close[0]
        if column in used:
            raise DataError(
                f"column '{column}' is named for two fields (or twice): one column, one role",
                path=path,
                field=field,
            )
        used.add(column)
        return column

    def detect(candidates: tuple[str, ...]) -> str | None:
        free = {_norm(c): c for c in reversed(columns) if c not in used}
        for candidate in candidates:
            if candidate in free:
                used.add(free[candidate])
                return free[candidate]
        return None

    # Explicit names first, so detection never takes a column the user assigned.
    input_col = named("input", mapping.input) if mapping.input else None
    refs = tuple(named("reference", r) for r in mapping.references)
    context = named("context", mapping.context) if mapping.context else None
    id_col = named("id", mapping.id) if mapping.id else None
    input_col = input_col or detect(INPUT_NAMES)
    if input_col is None:
        raise DataError(
            f"no input column found (looked for {', '.join(INPUT_NAMES)}; columns: {listing});"
            " name it with --input-field",
            path=path,
            field="input",
        )
    if not refs:
        found = detect(REFERENCE_NAMES)
        refs = (found,) if found else ()
    context = context or detect(CONTEXT_NAMES)
    id_col = id_col or detect(ID_NAMES)
    return FieldMapping(input=input_col, references=refs, context=context, id=id_col)


# -- locating and loading sources ---------------------------------------------------------


def id_text(value: Any) -> str | None:
    """An id cell as text, as every reader of ids (dataset, replay file) takes it; ValueError
    for an id that is no single value (an object, a list, true/false)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dict | list | tuple | bool):
        raise ValueError(f"expected text or a whole number, got {kind_of(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # inf and -inf stay apart (as JSON they would both be null)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # CSV readers turn an int column with gaps into floats
    text = value if isinstance(value, str) else _dumps(_jsonable(value))
    return text if text.strip() else None


def _id_key(item_id: str) -> int:
    """A 64-bit key for duplicate detection in bounded memory."""
    return int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=8).digest(), "big")


def _jsonable(value: Any) -> Any:
    """A JSON-serialisable copy of a cell (NaN becomes None; dates become ISO strings)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _canonical(row: dict[str, Any]) -> str:
    return _dumps(_jsonable(row))
