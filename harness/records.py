"""Reading one input record, as every reader of input (datasets, replay files, label
files) takes it: a JSON value harness can store, or a CSV file's checked records."""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from harness.errors import DataError

MAX_DEPTH = 200
"""Levels of nested lists and objects a JSON record may have (deeper ones would exhaust
Python's stack when read or stored)."""

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class JsonValueError(ValueError):
    """A JSON record harness cannot take; `field` is its top-level field at fault, if known."""

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(f"field '{field}': {detail}" if field else detail)
        self.detail, self.field = detail, field


def json_value(text: str) -> Any:
    """One JSON document or JSON-lines record, as every reader of JSON input takes it.

    Raises `json.JSONDecodeError` for invalid JSON, and `JsonValueError` for JSON that
    parses but cannot be stored: nested over MAX_DEPTH levels, a number of too many
    digits, or text with an unpaired surrogate escape (such as \\ud800: no Unicode text).
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise JsonValueError(f"nested over {MAX_DEPTH} levels deep") from None
    except ValueError:  # an integer of thousands of digits
        limit = sys.get_int_max_str_digits()
        raise JsonValueError(f"a number of over {limit} digits") from None
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise JsonValueError(f"nested over {MAX_DEPTH} levels deep")
    if _SURROGATE_ESCAPE.search(text):
        check_unicode(value)
    return value


def _depth(value: Any) -> int:
    """How many levels of lists and objects `value` nests (without recursion)."""
    deepest = 0
    stack = [(value, 1)]
    while stack and deepest <= MAX_DEPTH:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node)
    return deepest


def check_unicode(value: Any) -> None:
    """Raise JsonValueError naming the top-level field with an unpaired surrogate, if any."""
    fields = value.items() if isinstance(value, dict) else [(None, value)]
    for name, inner in fields:
        stack = [name, inner]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                stack.extend([*node.keys(), *node.values()])
            elif isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, str) and not _encodable(node):
                lone = next(c for c in node if "\ud800" <= c <= "\udfff")
                raise JsonValueError(
                    f"text with an unpaired surrogate \\u{ord(lone):04x}, which is not "
                    "valid Unicode",
                    None if name is None else name.encode("utf-8", "backslashreplace").decode(),
                )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_object(line: str) -> dict[str, Any]:
    """One JSON-lines record; ValueError saying what is wrong with it otherwise."""
    try:
        record = json_value(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg} (column {exc.colno})") from exc
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    return record


def kind_of(value: Any) -> str:
    """How an error names a value of the wrong kind: 'an object', 'a list', 'true/false'."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def csv_table(
    handle: TextIO, path: str, *, first_row: int = 1
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """A CSV file's header and its records, as every reader of CSV input takes them.

    The records come as (row, cells), rows counted from `first_row`, blank lines left out.
    A record with more or fewer cells than the header (a trailing or unquoted comma, a file
    cut off mid-row) or a quote that is never closed is a DataError naming the row and line.
    """
    reader = csv.reader(handle, strict=True)  # else an open quote swallows the file's rest
    header = _next_record(reader, path, first_row - 1) or []

    def records() -> Iterator[tuple[int, list[str]]]:
        row = first_row - 1
        while (fields := _next_record(reader, path, row + 1)) is not None:
            if not fields:
                continue  # a blank line is no row
            row += 1
            if len(fields) != len(header):
                more = len(fields) > len(header)
                hint = "a trailing comma or an unquoted comma?" if more else "a file cut off?"
                raise DataError(
                    f"{len(fields)} fields where the header has {len(header)} "
                    f"(line {reader.line_num}; {hint})",
                    path=path,
                    row=row,
                )
            yield row, fields

    return header, records()


def _next_record(reader: Any, path: str, row: int) -> list[str] | None:
    """The next record of a strict CSV reader (None at the end); a quoting error as a
    DataError naming the line where the record starts."""
    start = reader.line_num + 1
    try:
        return list(next(reader))
    except StopIteration:
        return None
    except csv.Error as exc:
        problem = (
            f"the record starting on line {start} opens a quote that is never closed"
            if "end of data" in str(exc)
            else f"line {reader.line_num}: {exc}"
        )
        raise DataError(f"cannot read the data: {problem}", path=path, row=row or None) from exc
