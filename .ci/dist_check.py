"""Build every distribution of the workspace and check it the way a user installs it.

``uv run tox -e dist`` runs this (CI does: the env is in tox's default list). Each step is timed:

1. build: ``uv build --all-packages``: each member's sdist, then its wheel built from that sdist,
   so every sdist builds on its own (osk-sqlite's with cargo). osk-sqlite's wheel is linked by
   zig against glibc 2.17 (manylinux2014) and uses CPython's stable ABI, one wheel for every
   supported CPython. Its cargo build starts from nothing each time (3-4.5 minutes on 2 busy
   cores): zig's linker wrapper names maturin's path in the temporary build environment, and
   cargo rebuilds every crate when the linker's path changes.
2. metadata: ``twine check --strict`` on every file.
3. files: one sdist and one wheel per member, all of the release version; the Rust member's
   wheel tagged abi3 and manylinux_2_17 and ``auditwheel show`` agreeing; the others
   py3-none-any.
4. install: a fresh venv in a temporary directory outside the workspace, then
   ``optuna-storage-kit[all]`` from the built wheels (third-party dependencies from the index),
   each of ours checked file by file against the wheel it came from.
5. use, there: the README's first Python snippet, ``osk backends`` (every backend of ``[all]``
   at the release version, none broken), ``osk certify optuna+memory:// --quick``.

``uv run tox -e dist -- --out DIR`` keeps the release files in DIR (a new or empty directory).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib
from packaging.tags import Tag
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]
# The osk-sqlite release build: zig links against glibc 2.17, whatever the build machine's.
MATURIN_ARGS = "--zig --compatibility manylinux2014"
MANYLINUX = "manylinux_2_17"  # and its legacy alias, both on the wheel
MANYLINUX_TAGS = (MANYLINUX, "manylinux2014")
# What `pip install "optuna-storage-kit[all]"` must register: backend name -> distribution.
BACKENDS = {
    "memory": "optuna-storage-kit",
    "sqlite-rust": "osk-sqlite",
    "postgres": "osk-postgres",
    "journal": "osk-journal",
}
# Defined by the README's snippet's reader, as a user's script would.
SNIPPET_PREAMBLE = """def objective(trial):
    return trial.suggest_float("x", -10, 10) ** 2


"""


class CheckError(Exception):
    """A distribution is not what a user should get; the message says what and where."""


@dataclass(frozen=True)
class Member:
    """A distribution of the workspace, as its ``pyproject.toml`` declares it."""

    name: str
    directory: Path
    backend: str

    @property
    def native(self) -> bool:
        return self.backend == "maturin"


def load_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


def workspace() -> tuple[str, list[Member]]:
    """The release version and every member (the root's core first)."""
    root = load_toml(ROOT / "pyproject.toml")
    members = []
    for directory in [ROOT] + [ROOT / p for p in root["tool"]["uv"]["workspace"]["members"]]:
        pyproject = load_toml(directory / "pyproject.toml")
        name = canonicalize_name(pyproject["project"]["name"])
        members.append(Member(name, directory, pyproject["build-system"]["build-backend"]))
    return root["project"]["version"], members


@contextmanager
def step(title: str) -> Iterator[None]:
    print(f"\n==> {title}", flush=True)
    start = time.monotonic()
    yield
    print(f"<== {title}: {time.monotonic() - start:.0f} s", flush=True)


def run(
    command: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
    echo: bool = True,
) -> str:
    """Run ``command``; return what it printed if ``capture``; raise CheckError if it fails.

    A captured command's standard output is shown when ``echo``, its error output on failure.
    """
    print("$ " + " ".join(command), flush=True)
    result = subprocess.run(
        command, cwd=cwd, env=env, text=True, capture_output=capture, check=False
    )
    if capture and echo and result.stdout:
        print(result.stdout, end="", flush=True)
    if result.returncode != 0:
        detail = f"\n{result.stdout}{result.stderr}" if capture else ""
        raise CheckError(f"`{' '.join(command)}` exited with {result.returncode}{detail}")
    return result.stdout if capture else ""


def uv() -> str:
    found = shutil.which("uv")
    if found is None:
        raise CheckError("uv is not on PATH: install it (python3 -m pip install uv)")
    return found


def build(out: Path) -> None:
    env = {
        **os.environ,
        "MATURIN_PEP517_ARGS": MATURIN_ARGS,
        # zig comes with the ziglang package of the interpreter running this script.
        "CARGO_ZIGBUILD_PYTHON_PATH": sys.executable,
        # Build against the base interpreter: pyo3 is not rebuilt for each temporary build env.
        "MATURIN_PEP517_USE_BASE_PYTHON": "1",
    }
    run([uv(), "build", "--all-packages", "--out-dir", str(out)], cwd=ROOT, env=env)


def check_metadata(files: list[Path]) -> None:
    run([sys.executable, "-m", "twine", "check", "--strict", *map(str, files)], cwd=ROOT)


def check_licenses(files: list[Path]) -> None:
    """Every wheel and sdist carries the project's LICENSE (the MIT text), not just its name."""
    import tarfile
    import zipfile

    text = (ROOT / "LICENSE").read_text()
    for file in files:
        if file.name.endswith(".whl"):
            with zipfile.ZipFile(file) as archive:
                found = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "LICENSE"]
                content = [archive.read(n).decode() for n in found]
        else:
            with tarfile.open(file) as archive:
                tops = [m for m in archive.getmembers() if m.name.count("/") == 1]
                licenses = [m for m in tops if m.name.endswith("/LICENSE")]
                found = [m.name for m in licenses]
                content = [archive.extractfile(m).read().decode() for m in licenses]  # type: ignore[union-attr]
        if text not in content:
            raise CheckError(f"{file.name}: no LICENSE with the project's license text ({found})")
    print(f"ok LICENSE in all {len(files)} files")


def abi3_floor(member: Member) -> str:
    """``cp310`` for pyo3's ``abi3-py310`` feature in the member's Cargo.toml."""
    pyo3 = load_toml(member.directory / "Cargo.toml")["dependencies"]["pyo3"]
    features: list[str] = [f for f in pyo3.get("features", []) if re.fullmatch(r"abi3-py3\d+", f)]
    if len(features) != 1:
        raise CheckError(f"{member.directory}/Cargo.toml: pyo3 needs one abi3-py3XX feature")
    return "cp" + features[0].removeprefix("abi3-py")


def expected_tags(member: Member) -> set[Tag]:
    if not member.native:
        return {Tag("py3", "none", "any")}
    floor = abi3_floor(member)
    return {Tag(floor, "abi3", f"{p}_{platform.machine()}") for p in MANYLINUX_TAGS}


def check_files(files: list[Path], release: str, members: list[Member]) -> dict[str, Path]:
    """Check names, versions and tags; return each member's wheel."""
    sdists: dict[str, list[Path]] = {m.name: [] for m in members}
    wheels: dict[str, list[Path]] = {m.name: [] for m in members}
    for file in files:
        if file.name.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(file.name)
            found = wheels
        else:
            name, version = parse_sdist_filename(file.name)
            found = sdists
        if name not in found or str(version) != release:
            raise CheckError(f"{file.name}: not a distribution of release {release}")
        found[name].append(file)
    for member in members:
        if len(sdists[member.name]) != 1 or len(wheels[member.name]) != 1:
            raise CheckError(
                f"{member.name}: {sdists[member.name]} {wheels[member.name]}, "
                "not one sdist and one wheel"
            )
        _, _, _, tags = parse_wheel_filename(wheels[member.name][0].name)
        if set(tags) != expected_tags(member):
            raise CheckError(
                f"{wheels[member.name][0].name}: tags {sorted(map(str, tags))}, "
                f"expected {sorted(map(str, expected_tags(member)))}"
            )
        print(f"ok {wheels[member.name][0].name} and {sdists[member.name][0].name}")
    return {name: paths[0] for name, paths in wheels.items()}


def check_manylinux(wheel: Path) -> None:
    report = run([sys.executable, "-m", "auditwheel", "show", str(wheel)], cwd=ROOT, capture=True)
    match = re.search(r'consistent with the following platform tag:\s*"([^"]+)"', report)
    if match is None or match.group(1) != f"{MANYLINUX}_{platform.machine()}":
        raise CheckError(f"{wheel.name}: auditwheel does not find it {MANYLINUX}:\n{report}")


def child_env(venv: Path) -> dict[str, str]:
    """The environment of a user whose venv is activated (nothing of tox's or the workspace's)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT", "TOX_ENV_DIR"}
    }
    env.update(
        VIRTUAL_ENV=str(venv),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        COLUMNS="250",  # rich prints one line per table row
    )
    return env


def install(venv: Path, out: Path, names: list[str], release: str, python: str) -> None:
    """``optuna-storage-kit[all]`` from the wheels in ``out`` into a new venv at ``venv``."""
    run([uv(), "venv", "--quiet", "--python", python, str(venv)], cwd=venv.parent)
    command = [uv(), "pip", "install", "--python", str(venv / "bin" / "python")]
    # Not a wheel of the same name that uv cached from an earlier build.
    command += [f"--refresh-package={name}" for name in names]
    command += ["--find-links", str(out), f"optuna-storage-kit[all]=={release}"]
    run(command, cwd=venv.parent)


INSTALLED_RECORDS = """
import json, sys
from importlib.metadata import distribution
print(json.dumps({n: distribution(n).read_text("RECORD") for n in sys.argv[1:]}))
"""


def wheel_record(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        lines = archive.read(name).decode().splitlines()
    return {line for line in lines if line and not line.startswith(name + ",")}


def check_installed_from(wheels: dict[str, Path], venv: Path, cwd: Path) -> None:
    """Every file of each built wheel is installed, with the wheel's hash: nothing else came."""
    python = str(venv / "bin" / "python")
    command = [python, "-c", INSTALLED_RECORDS, *wheels]
    records = json.loads(run(command, cwd=cwd, env=child_env(venv), capture=True, echo=False))
    for name, wheel in wheels.items():
        missing = wheel_record(wheel) - set(records[name].splitlines())
        if missing:
            raise CheckError(f"{name} is not installed from {wheel.name}: {sorted(missing)[:3]}")


def readme_snippet() -> str:
    """The README's first Python block: what a new user copies first."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^```python\n(.*?)^```$", readme, flags=re.MULTILINE | re.DOTALL)
    if match is None:
        raise CheckError("README.md has no ```python block")
    return match.group(1)


def table_rows(output: str) -> list[dict[str, str]]:
    """The rows of the table rich prints (header cells between ┃, body cells between │)."""

    def cells(line: str, bar: str) -> list[str]:
        return [cell.strip() for cell in line.strip().strip(bar).split(bar)]

    lines = output.splitlines()
    header = next(cells(line, "┃") for line in lines if line.startswith("┃"))
    body = [cells(line, "│") for line in lines if line.startswith("│")]
    return [dict(zip(header, row, strict=True)) for row in body]


def check_backends(output: str, release: str) -> None:
    rows = table_rows(output)
    listed = {row["backend"]: row for row in rows}
    problems = [f"{row['backend']}: {row['status']}" for row in rows if row["status"] != "ok"]
    for backend, dist in BACKENDS.items():
        row = listed.get(backend)
        if row is None:
            problems.append(f"{backend} (from {dist}) is not listed")
        elif (row["package"], row["version"]) != (dist, release):
            problems.append(f"{backend}: {row['package']} {row['version']}, not {dist} {release}")
    if problems:
        raise CheckError("osk backends: " + "; ".join(problems))


def use(venv: Path, release: str, cwd: Path) -> None:
    env = child_env(venv)
    script = cwd / "readme_snippet.py"
    script.write_text(SNIPPET_PREAMBLE + readme_snippet(), encoding="utf-8")
    run([str(venv / "bin" / "python"), script.name], cwd=cwd, env=env, capture=True)
    check_backends(run(["osk", "backends"], cwd=cwd, env=env, capture=True), release)
    certify = ["osk", "certify", "optuna+memory://", "--quick", "--out", str(cwd / "cert")]
    run(certify, cwd=cwd, env=env)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        help="a new or empty directory for the built files (default: a temporary one)",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter of the fresh venv (default: this one)",
    )
    return parser.parse_args(argv)


def check(out: Path, python: str) -> None:
    release, members = workspace()
    if out.exists() and any(out.iterdir()):
        raise CheckError(f"{out} is not empty: give a new or empty directory with --out")
    with step(f"build release {release}: every sdist, then a wheel from each"):
        build(out)
    files = sorted(p for p in out.iterdir() if p.name.endswith((".whl", ".tar.gz")))
    with step("metadata"):
        check_metadata(files)
        check_licenses(files)
    with step("file names, versions and wheel tags"):
        wheels = check_files(files, release, members)
        for member in members:
            if member.native:
                check_manylinux(wheels[member.name])
    with tempfile.TemporaryDirectory(prefix="osk-dist-") as temporary:
        place = Path(temporary)
        venv = place / "venv"
        with step(f"install optuna-storage-kit[all] into a fresh venv in {place}"):
            install(venv, out, list(wheels), release, python)
            check_installed_from(wheels, venv, place)
        with step("the README's snippet, osk backends, osk certify, in that venv"):
            use(venv, release, place)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.monotonic()
    try:
        if args.out is not None:
            check(args.out.resolve(), args.python)
        else:
            with tempfile.TemporaryDirectory(prefix="osk-dist-files-") as out:
                check(Path(out), args.python)
    except CheckError as err:
        print(f"\ndist check failed: {err}", file=sys.stderr)
        return 1
    print(f"\ndist check passed in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
