"""The PNG chart of ``osk bench --plot``: trials per second and time ratio to memory."""

from __future__ import annotations

import pathlib
from typing import Any

from optuna_storage_kit.errors import StorageKitError

__all__ = ["plot"]

_COLORS = {"reference": "#7f7f7f", "baseline": "#d62728", "measured": "#1f77b4"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise StorageKitError(
            "--plot needs matplotlib, which is not installed. Install it with: "
            'pip install "optuna-storage-kit[bench]"'
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot(report: dict[str, Any], path: pathlib.Path) -> None:
    """Draw one row per workload: trials/s (left) and time ratio to memory (right).

    Args:
        report: What :func:`optuna_storage_kit.tools.bench.report` returns.
        path: The PNG file to write.

    Raises:
        StorageKitError: matplotlib is not installed (names the extra to install).
    """
    plt = _pyplot()
    rows = report["results"]
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    n_bars = max(sum(1 for r in rows if r["workload"] == w) for w in workloads)
    fig, axes = plt.subplots(
        len(workloads),
        2,
        figsize=(13, 1.2 + len(workloads) * (0.9 + 0.55 * n_bars)),
        squeeze=False,
    )
    for (left, right), workload in zip(axes, workloads, strict=True):
        mine = [r for r in rows if r["workload"] == workload][::-1]
        labels = _unique([_label(r) for r in mine])
        colors = [_COLORS[r["role"]] for r in mine]
        tps = [r["trials_per_second"] for r in mine]
        ratios = [r["ratio_to_memory"] for r in mine]
        left.barh(labels, tps, color=colors)
        left.set_xscale("log")
        what = (
            "trials read per second, open + read"
            if workload == "get_all_trials"
            else ("trials per second")
        )
        left.set_xlabel(f"{what} (log scale; higher is better)")
        left.set_title(f"{workload}: throughput")
        for y, value in enumerate(tps):
            left.text(value, y, f" {value:,.0f}/s", va="center", fontsize=9)
        left.set_xlim(right=max(tps) * 8)
        right.barh(labels, ratios, color=colors)
        right.set_xscale("log")
        right.set_xlabel("time for the same trials ÷ in-memory time (log; lower is better)")
        right.set_title(f"{workload}: ratio to in-memory")
        right.axvline(1.0, color="black", linewidth=0.8)
        for y, value in enumerate(ratios):
            right.text(value, y, f" {value:,.1f}x", va="center", fontsize=9)
        right.set_xlim(0.5, max(ratios) * 8)
        right.set_yticklabels([])
    fig.suptitle(
        f"osk bench: {report['trials']} trials per storage, 3 float params, "
        f"up to {report['workers']} process(es); optuna {report['optuna_version']}",
        fontsize=12,
    )
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in _COLORS.values()]
    fig.legend(
        handles,
        ["in-memory reference", "Optuna baseline", "measured"],
        loc="lower center",
        ncol=3,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _unique(labels: list[str]) -> list[str]:
    """Number repeated labels (two files on one backend) so their bars stay apart."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def _label(row: dict[str, Any]) -> str:
    workers = f", {row['workers']} procs" if row["workers"] > 1 else ""
    return f"{row['label']}{workers}"
