"""Score responses that already exist, without calling any model.

`replay:FIELD` takes each item's response from a dataset column; `replay:FILE` from a
JSONL file keyed by id (`{"id": ..., "response": ...}`, optionally `"sample": k`;
`text` or `output` are accepted for the response too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from harness.adapters.base import Adapter, AdapterOptions, Capabilities, Request, Response
from harness.data import id_text
from harness.errors import ConfigError, DataError, PermanentError
from harness.records import JsonValueError, json_object, kind_of

_ID_KEYS = ("id", "item_id")
_TEXT_KEYS = ("response", "text", "output", "completion")


def _first(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((record[k] for k in keys if k in record), None)


def response_text(value: Any) -> str:
    """A replayed response as text: text as written, a number as its digits; ValueError for
    anything else (an object, a list, true/false, null), which is no model's reply."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected text, got {kind_of(value)}")


def check_column(value: Any) -> None:
    """A dataset cell to replay: missing (that item fails), a response, or one per sample."""
    if value is None:
        return
    for response in value if isinstance(value, list) else [value]:
        response_text(response)


class ReplayAdapter(Adapter):
    """Replays stored responses: a dataset column or a JSONL file keyed by item id."""

    name = "replay"
    capabilities = Capabilities(max_concurrency=4096, cacheable=False)
    option_names: ClassVar[frozenset[str] | None] = frozenset()

    def __init__(self, model: str, options: AdapterOptions) -> None:
        if not model:
            raise ConfigError(
                "replay needs a column or a file: --model replay:FIELD or replay:FILE"
            )
        super().__init__(model, options)
        self.path = Path(model) if model.endswith((".jsonl", ".json")) else None
        self._offsets: dict[tuple[str, int], int] = {}
        if self.path is not None:  # checked now: a bad file is refused before any run starts
            if not self.path.is_file():
                raise ConfigError(f"replay file not found: {self.path}")
            self._index()

    @property
    def field(self) -> str | None:
        """The dataset column holding responses, when replaying from the dataset."""
        return None if self.path else self.model

    def _index(self) -> None:
        """Remember where each (id, sample) line starts; responses are read on demand."""
        assert self.path is not None
        offset = 0
        with self.path.open("rb") as handle:
            for line_number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        record = json_object(line.decode("utf-8"))
                    except UnicodeDecodeError as exc:
                        raise DataError(
                            f"not UTF-8 text (byte {exc.start + 1})",
                            path=str(self.path),
                            row=line_number,
                        ) from exc
                    except JsonValueError as exc:
                        raise DataError(
                            exc.detail, path=str(self.path), row=line_number, field=exc.field
                        ) from exc
                    except ValueError as exc:
                        raise DataError(str(exc), path=str(self.path), row=line_number) from exc
                    try:
                        item_id = id_text(_first(record, _ID_KEYS))  # as the dataset reads ids
                    except ValueError as exc:
                        raise DataError(
                            str(exc), path=str(self.path), row=line_number, field="id"
                        ) from exc
                    if item_id is None:
                        raise DataError(
                            "no 'id' field", path=str(self.path), row=line_number, field="id"
                        )
                    self._check_response(record, line_number)
                    sample = record.get("sample", 0)
                    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
                        raise DataError(
                            f"sample must be a whole number >= 0, not {sample!r}",
                            path=str(self.path),
                            row=line_number,
                            field="sample",
                        )
                    key = (item_id, sample)
                    if key in self._offsets:
                        raise DataError(
                            f"a second response for id {item_id} sample {sample}",
                            path=str(self.path),
                            row=line_number,
                            field="id",
                        )
                    self._offsets[key] = offset
                offset += len(line)
        if not self._offsets:
            raise DataError("no responses: the file holds no record to replay", path=str(self.path))

    def _check_response(self, record: dict[str, Any], line_number: int) -> None:
        """A record's response must be there, and be text."""
        field = next((k for k in _TEXT_KEYS if k in record), "response")
        value = record.get(field)
        if value is None:
            raise DataError(
                "no 'response' field", path=str(self.path), row=line_number, field="response"
            )
        try:
            response_text(value)
        except ValueError as exc:
            raise DataError(str(exc), path=str(self.path), row=line_number, field=field) from exc

    async def generate(self, request: Request) -> Response:
        item = request.item
        if item is None:
            raise PermanentError("replay needs the item with each request")
        if self.path is None:
            value = item.metadata.get(self.model)
            if value is None:
                raise PermanentError(f"item {item.id} has no '{self.model}' value to replay")
            if isinstance(value, list):
                if request.sample >= len(value):
                    raise PermanentError(f"item {item.id} has no sample {request.sample}")
                value = value[request.sample]
            return self._response(value, item.id)
        offset = self._offsets.get((item.id, request.sample))
        if offset is None:
            raise PermanentError(
                f"{self.path} has no response for id {item.id} sample {request.sample}"
            )
        with self.path.open("rb") as handle:
            handle.seek(offset)
            record = json.loads(handle.readline())
        return self._response(_first(record, _TEXT_KEYS), item.id)

    @staticmethod
    def _response(value: Any, item_id: str) -> Response:
        try:
            return Response(text=response_text(value))
        except ValueError as exc:
            raise PermanentError(f"item {item_id}: the response to replay: {exc}") from exc

    @staticmethod
    def check_column(value: Any) -> None:
        """See `check_column`: the run checks every row's cell before it starts."""
        check_column(value)

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name, "model": self.model}
