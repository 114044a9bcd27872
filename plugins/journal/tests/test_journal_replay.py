"""Replaying a journal: the fast parse (orjson, a piece of many lines per call) reads every
record exactly as Optuna's reader (``json.loads`` per line) does, and finds bad records."""

from __future__ import annotations

import json
import math
import time
import types
from datetime import datetime, timedelta, timezone

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.study._study_direction import StudyDirection

import optuna_storage_kit as osk
from osk_journal import JournalCorruptError
from osk_journal._format import encode, loads
from osk_journal._state import _local_offset, parse_datetime

# Values that json.loads reads and orjson does not read the same way (or at all).
TRICKY = {
    "big_int": 123456789012345678901234567890,
    "min_int64_minus_one": -9223372036854775809,
    "u64_max": 18446744073709551615,
    "long_fraction": 0.00012345678901234567,
    "nan": float("nan"),
    "inf": float("inf"),
    "lone_surrogate": "\ud800",
    "digits_in_text": "1234567890123456789012345",
    "tiny_float": 7.023685434278892e-07,  # json writes e-07, orjson e-7
    "non_ascii": "ünïcödé 研究 🧪",  # json escapes it, orjson writes UTF-8
}


def _line(op_code: int, **fields: object) -> bytes:
    # Exactly what Optuna's JournalFileBackend writes: json.dumps with compact separators.
    op = {"op_code": op_code, "worker_id": "w-1", **fields}
    return json.dumps(op, separators=(",", ":")).encode() + b"\n"


def _long_journal(path: str, n_attrs: int = 5000) -> list[bytes]:
    """A study and many study attributes: more than one piece (1 MiB) of lines."""
    lines = [_line(0, study_name="s", directions=[1])]
    lines += [_line(2, study_id=0, user_attr={f"k{i}": "." * 200}) for i in range(n_attrs)]
    with open(path, "wb") as f:
        f.write(b"".join(lines))
    return lines


def _same(a: object, b: object) -> bool:
    """Equal, with NaN equal to NaN and the type (int or float) the same."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_loads_agrees_with_json(name: str) -> None:
    text = json.dumps([{"v": TRICKY[name]}, TRICKY[name]]).encode()
    ours, reference = loads(text), json.loads(text)
    assert _same(ours[0]["v"], reference[0]["v"]) and _same(ours[1], reference[1])
    bare = json.dumps(TRICKY[name]).encode()
    assert _same(loads(bare), json.loads(bare))


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_tricky_value_reads_back_as_optuna_reads_it(
    journal_path: str, helpers: types.ModuleType, name: str
) -> None:
    lines = _long_journal(journal_path)
    with open(journal_path, "ab") as f:
        f.write(_line(2, study_id=0, user_attr={name: TRICKY[name]}))
    assert sum(len(line) for line in lines) > 1 << 20  # the value is in a later piece
    ours = osk.open_storage(helpers.url(journal_path), snapshot_every=0)
    reference = helpers.optuna_journal(journal_path)
    mine, theirs = ours.get_study_user_attrs(0), reference.get_study_user_attrs(0)
    assert mine.keys() == theirs.keys()
    assert _same(mine[name], theirs[name]) and _same(mine[name], TRICKY[name])


@pytest.mark.parametrize("garbage", [b'{"op_code":2,"worker_id":"w","study_id":0,"user\n', b"\n"])
def test_corrupt_record_in_a_later_piece_names_its_offset(
    journal_path: str, helpers: types.ModuleType, garbage: bytes
) -> None:
    lines = _long_journal(journal_path)
    bad_index = len(lines) - 100
    offset = sum(len(line) for line in lines[:bad_index])
    assert offset > 1 << 20
    lines[bad_index] = garbage
    with open(journal_path, "wb") as f:
        f.write(b"".join(lines))
    with pytest.raises(JournalCorruptError) as info:
        osk.open_storage(helpers.url(journal_path), snapshot_every=0)
    assert (info.value.offset, info.value.line) == (offset, bad_index + 1)
    assert f"osk journal recover {journal_path}" in str(info.value)


def test_replay_of_many_pieces_matches_optuna(
    journal_path: str, helpers: types.ModuleType
) -> None:
    _long_journal(journal_path)
    storage = osk.open_storage(helpers.url(journal_path), snapshot_every=0)
    study = optuna.load_study(storage=storage, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    assert storage.get_study_directions(0) == [StudyDirection.MINIMIZE]
    again = osk.open_storage(helpers.url(journal_path), snapshot_every=0)
    reference = helpers.optuna_journal(journal_path)
    assert helpers.snapshot_of(again) == helpers.snapshot_of(reference)


@pytest.mark.parametrize(
    "zone", ["UTC", "Europe/Berlin", "America/St_Johns", "Australia/Lord_Howe"]
)
def test_times_read_as_optuna_reads_them(zone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Optuna's replay: ``fromisoformat(text).astimezone().replace(tzinfo=None)``; ours takes a
    shortcut for the UTC form Optuna writes. Over a year of daylight-saving changes (Lord Howe:
    30 minutes)."""
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    _local_offset.cache_clear()
    try:
        start = datetime(2024, 1, 1, tzinfo=timezone.utc)
        texts = [  # a year, every 97 minutes
            (start + timedelta(minutes=97 * i, microseconds=i)).isoformat(timespec="microseconds")
            for i in range(5500)
        ]
        texts += ["2024-03-31T01:30:00+00:00", "2024-03-31T03:30:00.000001+02:00"]
        for text in texts:
            expected = datetime.fromisoformat(text).astimezone().replace(tzinfo=None)
            assert parse_datetime(text) == expected, text
    finally:
        monkeypatch.undo()
        time.tzset()
        _local_offset.cache_clear()


def _as_json_reads(line: bytes) -> str:
    """What Optuna's reader makes of a line, written back canonically (NaN, int/float kept)."""
    return json.dumps(json.loads(line))


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_encode_writes_what_json_reads_back_as_the_value(name: str) -> None:
    value = TRICKY[name]
    op = {
        "op_code": 2,
        "worker_id": "w",
        "study_id": 0,
        "user_attr": {name: [value, {"v": value}]},
    }
    line = encode(op)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    reference = json.dumps(op, separators=(",", ":")).encode() + b"\n"
    assert _as_json_reads(line) == _as_json_reads(reference)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), _JSON, max_size=6))
@settings(max_examples=300, deadline=None)
def test_encode_agrees_with_json_on_any_record(fields: dict[str, object]) -> None:
    op = {"op_code": 2, "worker_id": "w", **fields}
    reference = json.dumps(op, separators=(",", ":")).encode() + b"\n"
    assert _as_json_reads(encode(op)) == _as_json_reads(reference)
