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
from harness.sources import json_object

_ID_KEYS = ("id", "item_id")
_TEXT_KEYS = ("response", "text", "output", "completion")


def _first(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((record[k] for k in keys if k in record), None)


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

    @property
    def field(self) -> str | None:
        """The dataset column holding responses, when replaying from the dataset."""
        return None if self.path else self.model

    async def start(self) -> None:
        if self.path is None:
            return
        if not self.path.is_file():
            raise ConfigError(f"replay file not found: {self.path}")
        self._index()

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
                    except ValueError as exc:
                        raise DataError(str(exc), path=str(self.path), row=line_number) from exc
                    item_id = id_text(_first(record, _ID_KEYS))  # as the dataset reads ids
                    if item_id is None:
                        raise DataError(
                            "no 'id' field", path=str(self.path), row=line_number, field="id"
                        )
                    if _first(record, _TEXT_KEYS) is None:
                        raise DataError(
                            "no 'response' field",
                            path=str(self.path),
                            row=line_number,
                            field="response",
                        )
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
            return Response(text=str(value))
        offset = self._offsets.get((item.id, request.sample))
        if offset is None:
            raise PermanentError(
                f"{self.path} has no response for id {item.id} sample {request.sample}"
            )
        with self.path.open("rb") as handle:
            handle.seek(offset)
            record = json.loads(handle.readline())
        return Response(text=str(_first(record, _TEXT_KEYS)))

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name, "model": self.model}
