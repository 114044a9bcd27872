"""Stored times come back as RDBStorage returns them, in every time zone, across DST switches."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SWEEP = """
import datetime, random
from osk_sqlite._convert import _local, from_db_time, local_of

times = []
for year in (2021, 2026):  # every quarter hour of the year, then random instants
    t = datetime.datetime(year, 1, 1)
    while t.year == year:
        times.append(t)
        t += datetime.timedelta(minutes=15)
rng = random.Random(0)
times += [datetime.datetime(2026, 1, 1) + datetime.timedelta(microseconds=rng.randrange(
    366 * 86_400 * 10**6)) for _ in range(50_000)]
bad = 0
for t in times:
    for text in (t.isoformat(sep=" ", timespec="microseconds"), t.isoformat(sep=" ")):
        got, want = from_db_time(text), _local(datetime.datetime.fromisoformat(text))
        bad += got != want or got.fold != want.fold
# now(): an instant in microseconds to local time, as seconds then microseconds would give it
epoch = datetime.datetime(1970, 1, 1)
for m in [(t - epoch) // datetime.timedelta(microseconds=1) for t in times] + [
    s * 10**6 + f for s in (0, 1, 2**31 - 1, 2**32 - 1) for f in (0, 1, 499_999, 500_000, 999_999)
]:
    got = local_of(m)
    want = datetime.datetime.fromtimestamp(m // 10**6).replace(microsecond=m % 10**6)
    bad += got != want or got.fold != want.fold
print(len(times), bad)
"""


@pytest.mark.parametrize(
    "zone", ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kathmandu"]
)
def test_stored_times_convert_exactly_in_every_zone(zone: str) -> None:
    if not os.path.exists(f"/usr/share/zoneinfo/{zone}"):
        pytest.fail(f"this machine has no time zone data for {zone} (install tzdata)")
    env = {**os.environ, "TZ": zone}
    out = subprocess.run(
        [sys.executable, "-c", SWEEP], env=env, capture_output=True, text=True, check=True
    )
    checked, mismatched = map(int, out.stdout.split())
    assert checked > 100_000
    assert mismatched == 0


def test_times_written_with_an_offset_are_read_as_utc() -> None:
    from osk_sqlite._convert import _local, from_db_time

    text = "2026-03-29 01:30:00+02:00"
    import datetime

    assert from_db_time(text) == _local(datetime.datetime(2026, 3, 29, 1, 30))
