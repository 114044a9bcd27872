"""Start-up cost of the kit: fresh interpreters, interleaved rounds, the fastest of each.

Run it in the workspace (or any environment where the kit is installed)::

    uv run python core/benchmarks/startup.py [--rounds 15] [--json FILE]

Each round starts one fresh interpreter per case, in turn, so that a busy machine slows every
case alike; the fastest run of each case is its cost (noise only ever adds time), in wall time
and in CPU time (the child's user + system time, which a busy machine inflates far less); the
self time of the kit's own modules, from ``python -X importtime``, is shown too. Bytecode
caches are on (in a temporary ``PYTHONPYCACHEPREFIX``, written by a first warm-up round), as
for an installed package after its first import, even where ``PYTHONDONTWRITEBYTECODE`` is
set: compiling every module at every start would hide what the kit costs. The budget,
from issue 14: ``import optuna_storage_kit`` costs at most 50 ms more than ``import optuna``
(Optuna's own, with the kit turned off), judged on CPU time. The exit status is 1 when it is
over budget.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 0.050
BIN = Path(sys.executable).parent
KIT_MODULES = "the kit's own modules (-X importtime)"

# name -> (command, environment changes)
CASES: dict[str, tuple[list[str], dict[str, str]]] = {
    "python -c pass, kit off": ([sys.executable, "-c", "pass"], {"OSK_AUTOLOAD": "0"}),
    "python -c pass": ([sys.executable, "-c", "pass"], {}),
    "import optuna, kit off": ([sys.executable, "-c", "import optuna"], {"OSK_AUTOLOAD": "0"}),
    "import optuna": ([sys.executable, "-c", "import optuna"], {}),
    "import optuna, optuna_storage_kit": (
        [sys.executable, "-c", "import optuna, optuna_storage_kit"],
        {},
    ),
    "optuna --version, kit off": ([str(BIN / "optuna"), "--version"], {"OSK_AUTOLOAD": "0"}),
    "optuna --version": ([str(BIN / "optuna"), "--version"], {}),
    "osk --version": ([str(BIN / "osk"), "--version"], {}),
    "osk --help": ([str(BIN / "osk"), "--help"], {}),
}


def environment(changes: dict[str, str], cache: str) -> dict[str, str]:
    drop = ("OSK_AUTOLOAD", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(changes, PYTHONPYCACHEPREFIX=cache)
    return env


def time_once(command: list[str], changes: dict[str, str], cache: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds: the child's user + system time) of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=environment(changes, cache), stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, command)
    return wall, usage.ru_utime + usage.ru_stime


def importtime(code: str, changes: dict[str, str], cache: str) -> dict[str, int]:
    """Module -> self microseconds, from ``python -X importtime -c code``."""
    stderr = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=environment(changes, cache),
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    rows = [line.removeprefix("import time:").split("|") for line in stderr.splitlines()]
    return {row[2].strip(): int(row[0]) for row in rows[1:] if len(row) == 3}


def kit_modules_us(cache: str) -> float:
    """Self time of the modules ``import optuna, optuna_storage_kit`` adds to ``import optuna``."""
    plain = importtime("import optuna", {"OSK_AUTOLOAD": "0"}, cache)
    both = importtime("import optuna, optuna_storage_kit", {}, cache)
    return sum(us for name, us in both.items() if name not in plain)


def measure(rounds: int) -> dict[str, dict[str, float]]:
    """The fastest of ``rounds`` interleaved runs of each case: {"wall"|"cpu": {case: s}}."""
    best = {kind: dict.fromkeys(CASES, float("inf")) for kind in ("wall", "cpu")}
    kit_modules = float("inf")
    with tempfile.TemporaryDirectory(prefix="osk-startup-pyc-") as cache:
        for command, changes in CASES.values():  # warm the bytecode and file caches
            time_once(command, changes, cache)
        for _ in range(rounds):
            for name, (command, changes) in CASES.items():
                wall, cpu = time_once(command, changes, cache)
                best["wall"][name] = min(best["wall"][name], wall)
                best["cpu"][name] = min(best["cpu"][name], cpu)
            kit_modules = min(kit_modules, kit_modules_us(cache) / 1e6)
    best["importtime"] = {KIT_MODULES: kit_modules}
    return best


def report(best: dict[str, float]) -> dict[str, float]:
    """Differences and ratios between the cases of one kind (wall or CPU time)."""
    baseline = best["import optuna, kit off"]
    return {
        "kit over import optuna": best["import optuna, optuna_storage_kit"] - baseline,
        "ratio import optuna+kit / import optuna": best["import optuna, optuna_storage_kit"]
        / baseline,
        "zero-change import optuna over kit off": best["import optuna"] - baseline,
        ".pth at start-up": best["python -c pass"] - best["python -c pass, kit off"],
        "optuna CLI hook": best["optuna --version"] - best["optuna --version, kit off"],
    }


def shown(name: str, value: float) -> str:
    return f"{value:8.2f}x" if name.startswith("ratio") else f"{value * 1000:8.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (15)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    best = measure(args.rounds)
    figures = {kind: report(best[kind]) for kind in ("wall", "cpu")}
    width = max(len(name) for table in (*best.values(), *figures.values()) for name in table)
    print(f"fastest of {args.rounds} interleaved fresh interpreters per case (wall, CPU):")
    for name in CASES:
        wall, cpu = best["wall"][name], best["cpu"][name]
        print(f"  {name:<{width}}  {shown(name, wall)}  {shown(name, cpu)}")
    for name in figures["wall"]:
        wall, cpu = figures["wall"][name], figures["cpu"][name]
        print(f"  {name:<{width}}  {shown(name, wall)}  {shown(name, cpu)}")
    print(f"  {KIT_MODULES:<{width}}  {shown('', best['importtime'][KIT_MODULES])}")
    # CPU time is what the kit costs; wall time adds whatever else the machine was doing.
    over = figures["cpu"]["kit over import optuna"] > BUDGET_S
    verdict = "OVER" if over else "ok"
    print(f"budget: kit over import optuna <= {BUDGET_S * 1000:.0f} ms CPU: {verdict}")
    if args.json is not None:
        args.json.write_text(json.dumps({"best_s": best, "figures_s": figures}, indent=2) + "\n")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
