"""The journal's line format: one compact JSON object per ``\\n``-terminated line.

This is exactly the format of Optuna's ``JournalStorage`` with ``JournalFileBackend``: each line
holds ``op_code`` (Optuna's ``JournalOperation``) and ``worker_id``; study and trial ids are
not stored but follow from the order of the lines.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["encode", "parse_lines", "split_complete"]

_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps's settings, made once


def encode(op: dict[str, Any]) -> bytes:
    """Return one record as a line, serialized exactly as Optuna's file backend does."""
    return _ENCODER.encode(op).encode("utf-8") + b"\n"


def split_complete(data: bytes) -> int:
    """Return how many leading bytes of ``data`` form complete lines."""
    return data.rfind(b"\n") + 1


def parse_lines(data: bytes) -> tuple[list[dict[str, Any]], tuple[int, int, str] | None]:
    """Parse complete lines (``data`` ends with ``\\n``) into records.

    The fast path decodes every line with one ``json.loads`` call; if that fails, lines are
    decoded one by one to find the first bad one.

    Returns:
        ``(records, error)``: the records before the first bad line, and ``None`` or
        ``(byte offset within data, 0-based line index, reason)`` of that line.
    """
    if not data:
        return [], None
    count = data.count(b"\n")
    try:
        records = json.loads(b"[" + data[:-1].replace(b"\n", b",") + b"]")
    except ValueError:
        records = None
    # A torn fragment merged with the next line would change the count. Records that are not
    # objects are caught when applied.
    if isinstance(records, list) and len(records) == count:
        return records, None
    return _parse_slowly(data)


def _parse_slowly(data: bytes) -> tuple[list[dict[str, Any]], tuple[int, int, str] | None]:
    records: list[dict[str, Any]] = []
    start = 0
    index = 0
    while start < len(data):
        end = data.index(b"\n", start)
        line = data[start:end]
        try:
            record = json.loads(line)
        except ValueError as err:
            return records, (start, index, f"not a JSON record ({err})")
        if type(record) is not dict or "op_code" not in record:
            return records, (start, index, "not a journal record (no 'op_code')")
        records.append(record)
        start = end + 1
        index += 1
    return records, None


def line_offset(data: bytes, index: int) -> int:
    """Return the byte offset within ``data`` of the 0-based line ``index``."""
    offset = 0
    for _ in range(index):
        offset = data.index(b"\n", offset) + 1
    return offset
