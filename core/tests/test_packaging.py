"""One version for every distribution of a release, and inter-package ranges that agree with it.

The release version is the core's: ``[project] version`` in the workspace root's
``pyproject.toml``. The hatch members read it there (``[tool.hatch.version]``); osk-sqlite's is
its ``Cargo.toml``'s (maturin reads it there), which must say the same. Every dependency of one
member on another is the release's compatible range, ``>=0.2,<0.3`` for 0.2.x: a lower bound in
the release's series (at most the release) and the next series as the upper bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Member:
    """A distribution of the workspace: its directory and its parsed ``pyproject.toml``."""

    directory: Path
    pyproject: dict[str, Any]

    @property
    def name(self) -> str:
        return str(canonicalize_name(self.pyproject["project"]["name"]))

    @property
    def where(self) -> str:
        return str((self.directory / "pyproject.toml").relative_to(ROOT))

    def requirements(self) -> list[tuple[str, Requirement]]:
        """``(where it is declared, requirement)`` for the dependencies and every extra."""
        project = self.pyproject["project"]
        found = [("dependencies", Requirement(r)) for r in project.get("dependencies", [])]
        for extra, reqs in project.get("optional-dependencies", {}).items():
            found += [(f"extra [{extra}]", Requirement(r)) for r in reqs]
        return found


def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


def _members() -> list[Member]:
    root = _load(ROOT / "pyproject.toml")
    paths = root["tool"]["uv"]["workspace"]["members"]
    return [Member(ROOT, root)] + [
        Member(ROOT / p, _load(ROOT / p / "pyproject.toml")) for p in paths
    ]


MEMBERS = _members()
NAMES = {m.name for m in MEMBERS}
RELEASE = Version(MEMBERS[0].pyproject["project"]["version"])


def declared_version(member: Member) -> str:
    """The version a build of ``member`` gets, read where its build backend reads it."""
    project = member.pyproject["project"]
    if "version" in project:
        return str(project["version"])
    assert "version" in project.get("dynamic", []), f"{member.where} has no version"
    backend = member.pyproject["build-system"]["build-backend"]
    if backend == "hatchling.build":
        source = member.pyproject["tool"]["hatch"]["version"]
        text = (member.directory / source["path"]).read_text(encoding="utf-8")
        match = re.search(source["pattern"], text, flags=re.MULTILINE)
        assert match, f"{member.where}: the pattern finds no version in {source['path']}"
        return str(match.group("version"))
    if backend == "maturin":
        return str(_load(member.directory / "Cargo.toml")["package"]["version"])
    raise AssertionError(f"{member.where}: no rule here for a dynamic version with {backend}")


def compatible_range(release: Version) -> tuple[Version, Version]:
    """The start of the release's series and of the next: 0.2.3 -> (0.2, 0.3), 1.4 -> (1.4, 2)."""
    major, minor = release.major, release.minor
    start = Version(f"{major}.{minor}")
    return start, Version(f"0.{minor + 1}" if major == 0 else f"{major + 1}")


def range_problem(specifier: SpecifierSet, release: Version) -> str | None:
    """What is wrong with ``specifier`` as a dependency on a member of ``release``, or None."""
    start, after = compatible_range(release)
    wanted = f"write >={start},<{after} (or a lower bound up to {release})"
    clauses = {s.operator: Version(s.version) for s in specifier}
    if len(specifier) != 2 or set(clauses) != {">=", "<"}:
        return f"'{specifier}' is not a range of the form >=X,<Y: {wanted}"
    if not start <= clauses[">="] <= release:
        return f"its lower bound {clauses['>=']} is outside {start}..{release}: {wanted}"
    if clauses["<"] != after:
        return f"its upper bound {clauses['<']} is not the next series {after}: {wanted}"
    return None


def test_every_distribution_is_found() -> None:
    plugins = {"osk-sqlite", "osk-postgres", "osk-journal", "osk-conformance"}
    assert {"optuna-storage-kit", *plugins} == NAMES


@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.name)
def test_every_distribution_has_the_release_version(member: Member) -> None:
    assert declared_version(member) == str(RELEASE), (
        f"{member.where}: {member.name} would build as {declared_version(member)}, "
        f"the release is {RELEASE} (the root pyproject.toml)"
    )


@pytest.mark.parametrize("member", MEMBERS, ids=lambda m: m.name)
def test_dependencies_on_members_are_the_release_range(member: Member) -> None:
    problems = [
        f"{member.where}: {member.name} needs '{req}' ({where}): {problem}"
        for where, req in member.requirements()
        if canonicalize_name(req.name) in NAMES
        and (problem := range_problem(req.specifier, RELEASE))
    ]
    assert not problems, "\n".join(problems)


def test_the_all_extra_installs_every_other_member() -> None:
    core = MEMBERS[0]
    in_all = {
        canonicalize_name(req.name) for where, req in core.requirements() if where == "extra [all]"
    }
    assert in_all >= NAMES - {core.name}


RUST_MEMBERS = [m for m in MEMBERS if m.pyproject["build-system"]["build-backend"] == "maturin"]


@pytest.mark.parametrize("member", RUST_MEMBERS, ids=lambda m: m.name)
def test_cargo_lock_has_the_crate_version(member: Member) -> None:
    crate = _load(member.directory / "Cargo.toml")["package"]
    lock = _load(member.directory / "Cargo.lock")
    locked = [p["version"] for p in lock["package"] if p["name"] == crate["name"]]
    assert locked == [crate["version"]], f"run `cargo update -p {crate['name']}` beside Cargo.toml"


def test_the_changelog_has_a_section_for_the_release() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    # Dated when published; "Unreleased" while in preparation.
    heading = rf"^## \[{re.escape(str(RELEASE))}\] - (\d{{4}}-\d{{2}}-\d{{2}}|Unreleased)$"
    assert re.search(heading, changelog, re.MULTILINE), (
        f"CHANGELOG.md has no section for {RELEASE}"
    )


@pytest.mark.parametrize(
    ("specifier", "release", "problem"),
    [
        (">=0.2,<0.3", "0.2.0", None),
        (">=0.2.1,<0.3", "0.2.1", None),
        ("<0.3,>=0.2", "0.2.5", None),
        (">=1.4,<2", "1.4.0", None),
        ("", "0.2.0", "not a range"),
        (">=0.2", "0.2.0", "not a range"),
        ("==0.2.0", "0.2.0", "not a range"),
        ("~=0.2.0", "0.2.0", "not a range"),
        (">=0.1,<0.3", "0.2.0", "lower bound 0.1 is outside 0.2..0.2.0"),
        (">=0.2.1,<0.3", "0.2.0", "lower bound 0.2.1 is outside"),
        (">=0.2,<1", "0.2.0", "upper bound 1 is not the next series 0.3"),
        (">=1.4,<1.5", "1.4.0", "upper bound 1.5 is not the next series 2"),
    ],
)
def test_range_problem_names_what_is_wrong(
    specifier: str, release: str, problem: str | None
) -> None:
    found = range_problem(SpecifierSet(specifier), Version(release))
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
