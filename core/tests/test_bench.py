"""``osk bench``, run as a user runs it; structure and arithmetic, never wall-clock limits."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import optuna_storage_kit as osk

OskCmd = Callable[..., subprocess.CompletedProcess[str]]
"""The ``osk_cmd`` fixture (core/tests/conftest.py): runs the osk command line."""


@pytest.fixture(scope="module")
def bench_run(
    osk_cmd: OskCmd, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path, str]:
    tmp = tmp_path_factory.mktemp("bench")
    out = osk_cmd(
        "bench",
        "--trials",
        "24",
        "--workers",
        "2",
        "--workload",
        "random",
        "--workload",
        "get_all_trials",
        "--json",
        str(tmp / "bench.json"),
        "--plot",
        str(tmp / "bench.png"),
    ).stdout
    return json.loads((tmp / "bench.json").read_text()), tmp / "bench.png", out


def test_json_has_every_storage_and_ratios_from_measured_times(
    bench_run: tuple[dict[str, Any], Path, str],
) -> None:
    report, _, _ = bench_run
    assert report["trials"] == 24 and report["workers"] == 2
    installed_file_backends = [b for b in osk.get_registry().backends() if b.file_path]
    rows = report["results"]
    assert [r["workload"] for r in rows] == ["random"] * (3 + len(installed_file_backends)) + [
        "get_all_trials"
    ] * (3 + len(installed_file_backends))
    for workload in ("random", "get_all_trials"):
        mine = [r for r in rows if r["workload"] == workload]
        assert [(r["role"], r["kind"]) for r in mine[:3]] == [
            ("reference", "osk"),
            ("baseline", "optuna-rdb"),
            ("baseline", "optuna-journal"),
        ]
        reference = mine[0]
        assert reference["url"] == "optuna+memory://" and reference["workers"] == 1
        for row in mine:
            assert row["trials"] == 24 and row["seconds"] > 0
            assert row["trials_per_second"] == pytest.approx(24 / row["seconds"])
            assert row["ratio_to_memory"] == pytest.approx(row["seconds"] / reference["seconds"])
    # Optuna's file storages are multi-process: the optimize workloads ran in two processes;
    # reading is one process everywhere.
    assert [r["workers"] for r in rows if r["role"] == "baseline"] == [2, 2, 1, 1]
    # The workers' start-up (a fresh interpreter each) is measured apart from the workload.
    for row in rows:
        assert (row["startup_seconds"] > 0) == (row["workers"] > 1), row


def test_table_matches_json(bench_run: tuple[dict[str, Any], Path, str]) -> None:
    report, _, out = bench_run
    lines = [line for line in out.splitlines() if line.startswith(("│ random", "│ get_all"))]
    assert len(lines) == len(report["results"])
    for line, row in zip(lines, report["results"], strict=True):
        cells = [c.strip() for c in line.strip("│").split("│")]
        assert cells[0] == row["workload"] and cells[1] == row["label"]
        assert cells[6] == f"{row['ratio_to_memory']:.1f}x"
        assert cells[7] == (f"{row['startup_seconds']:.2f}" if row["workers"] > 1 else "-")


def test_plot_is_a_readable_png(bench_run: tuple[dict[str, Any], Path, str]) -> None:
    import matplotlib.image
    import numpy as np

    _, png, _ = bench_run
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(str(png))[..., :3]
    height, width = pixels.shape[:2]
    assert width >= 1000 and height >= 300

    def has(rgb: str) -> bool:
        color = np.array([int(rgb[i : i + 2], 16) / 255 for i in (1, 3, 5)])
        return bool((np.abs(pixels - color).max(axis=-1) < 0.02).sum() > 500)

    assert has("#7f7f7f"), "no bar for the in-memory reference"
    assert has("#d62728"), "no bars for Optuna's baselines"


def test_named_url_without_baselines(osk_cmd: OskCmd, tmp_path: Path) -> None:
    out = osk_cmd(
        "bench",
        "optuna+memory://bench-named",
        "--no-baselines",
        "--trials",
        "8",
        "--workload",
        "tpe",
        "--workers",
        "3",
        "--json",
        str(tmp_path / "b.json"),
    ).stdout
    rows = json.loads((tmp_path / "b.json").read_text())["results"]
    # The memory backend is not multi-process, so --workers does not apply to it.
    assert [(r["role"], r["url"], r["workers"]) for r in rows] == [
        ("reference", "optuna+memory://", 1),
        ("measured", "optuna+memory://bench-named", 1),
    ]
    assert "osk bench: 8 trials per storage" in out


def test_bench_leaves_no_study_behind(osk_cmd: OskCmd, tmp_path: Path) -> None:
    import optuna

    journal = tmp_path / "user.log"
    optuna.create_study(storage=f"sqlite:///{tmp_path / 'user.db'}", study_name="keep")
    osk_cmd("bench", f"sqlite:///{tmp_path / 'user.db'}", str(journal), "--no-baselines",
            "--trials", "4", "--workers", "2", "--workload", "random",
            "--workload", "get_all_trials")  # fmt: skip
    studies = optuna.get_all_study_summaries(f"sqlite:///{tmp_path / 'user.db'}")
    assert [s.study_name for s in studies] == ["keep"]
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    assert optuna.get_all_study_summaries(JournalStorage(JournalFileBackend(str(journal)))) == []


def test_missing_matplotlib_names_the_extra(osk_cmd: OskCmd, tmp_path: Path) -> None:
    result = osk_cmd(
        "bench",
        "--plot",
        str(tmp_path / "x.png"),
        check=False,
        prelude="import sys; sys.modules['matplotlib'] = None  # as if not installed",
    )
    assert result.returncode != 0
    assert 'pip install "optuna-storage-kit[bench]"' in result.stderr
    assert not (tmp_path / "x.png").exists()


def test_bad_location_is_a_clear_error(osk_cmd: OskCmd) -> None:
    result = osk_cmd("bench", "nowhere", "--trials", "2", check=False)
    assert result.returncode != 0
    assert "'nowhere' is not a storage" in result.stderr


def test_cli_imports_no_heavy_extra() -> None:
    code = (
        "import sys, optuna_storage_kit.tools.cli\n"
        "print(sorted(m for m in ('matplotlib', 'optuna_dashboard') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
