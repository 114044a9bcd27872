"""Start-up cost of the kit: fresh interpreters, interleaved rounds, the fastest of each.

Run it in the workspace (or any environment where the kit is installed)::

    uv run python core/benchmarks/startup.py [--rounds 15] [--json FILE]

Each round starts one fresh interpreter per case, in turn, so that a busy machine slows every
case alike; the fastest run of each case is its cost (noise only ever adds time). Bytecode
caches are on (in a temporary ``PYTHONPYCACHEPREFIX``, written by a first warm-up round), as
for an installed package after its first import, even where ``PYTHONDONTWRITEBYTECODE`` is
set: compiling every module at every start would hide what the kit costs. The budget,
from issue 14: ``import optuna_storage_kit`` costs at most 50 ms more than ``import optuna``
(Optuna's own, with the kit turned off). The exit status is 1 when it is over budget.
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


def time_once(command: list[str], changes: dict[str, str], cache: str) -> float:
    env = environment(changes, cache)
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


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


def measure(rounds: int) -> dict[str, float]:
    """The fastest of ``rounds`` interleaved runs of each case, in seconds."""
    best = dict.fromkeys([*CASES, KIT_MODULES], float("inf"))
    with tempfile.TemporaryDirectory(prefix="osk-startup-pyc-") as cache:
        for command, changes in CASES.values():  # warm the bytecode and file caches
            time_once(command, changes, cache)
        for _ in range(rounds):
            for name, (command, changes) in CASES.items():
                best[name] = min(best[name], time_once(command, changes, cache))
            best[KIT_MODULES] = min(best[KIT_MODULES], kit_modules_us(cache) / 1e6)
    return best


def report(best: dict[str, float]) -> dict[str, float]:
    baseline = best["import optuna, kit off"]
    return {
        "kit over import optuna (s)": best["import optuna, optuna_storage_kit"] - baseline,
        "ratio import optuna+kit / import optuna": best["import optuna, optuna_storage_kit"]
        / baseline,
        "kit modules' own import time (s)": best[KIT_MODULES],
        "zero-change import optuna over kit off (s)": best["import optuna"] - baseline,
        ".pth at start-up (s)": best["python -c pass"] - best["python -c pass, kit off"],
        "optuna CLI hook (s)": best["optuna --version"] - best["optuna --version, kit off"],
        "osk --version (s)": best["osk --version"],
        "osk --help (s)": best["osk --help"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (15)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    best = measure(args.rounds)
    figures = report(best)
    width = max(map(len, [*best, *figures]))
    print(f"fastest of {args.rounds} interleaved fresh interpreters per case:")
    for name, seconds in best.items():
        print(f"  {name:<{width}}  {seconds * 1000:8.1f} ms")
    for name, value in figures.items():
        shown = f"{value:8.2f}x" if name.startswith("ratio") else f"{value * 1000:8.1f} ms"
        print(f"  {name:<{width}}  {shown}")
    over = figures["kit over import optuna (s)"] > BUDGET_S
    verdict = "OVER" if over else "ok"
    print(f"budget: kit over import optuna <= {BUDGET_S * 1000:.0f} ms: {verdict}")
    if args.json is not None:
        args.json.write_text(json.dumps({"best_s": best, "figures": figures}, indent=2) + "\n")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
