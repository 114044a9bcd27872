"""The table of extras (runtime/extras.py) against what the distribution declares and what the
installed plugins register."""

from __future__ import annotations

import importlib.metadata
import re

import pytest

import optuna_storage_kit as osk
from optuna_storage_kit.runtime.extras import KNOWN_SCHEMES, PLUGIN_COMMANDS

_REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)[^;]*;\s*extra\s*==\s*['\"]([^'\"]+)['\"]")


def _extras() -> dict[str, set[str]]:
    """Extra -> the distributions it installs, from the installed core's metadata."""
    metadata = importlib.metadata.distribution("optuna-storage-kit").metadata
    found: dict[str, set[str]] = {extra: set() for extra in metadata.get_all("Provides-Extra")}
    for requirement in metadata.get_all("Requires-Dist") or ():
        match = _REQUIREMENT.match(requirement)
        if match:
            found[match.group(2)].add(match.group(1))
    return found


@pytest.mark.parametrize(
    ("table", "entries"),
    [("KNOWN_SCHEMES", KNOWN_SCHEMES), ("PLUGIN_COMMANDS", PLUGIN_COMMANDS)],
)
def test_each_hint_names_an_extra_that_installs_its_distribution(
    table: str, entries: dict[str, tuple[str, str]]
) -> None:
    extras = _extras()
    for key, (distribution, extra) in entries.items():
        assert extra in extras, f"{table}[{key!r}]: the core declares no extra {extra!r}"
        assert distribution in extras[extra], (
            f"{table}[{key!r}]: extra {extra!r} installs {sorted(extras[extra])}, "
            f"not {distribution}"
        )
        assert distribution in extras["all"], f"{table}[{key!r}]: [all] lacks {distribution}"


def test_every_backend_distribution_in_an_extra_has_its_schemes_listed() -> None:
    """Each extra that installs a backend plugin is in the table for every scheme it serves,
    and the table names no scheme its distribution does not serve."""
    registry = osk.get_registry()
    served: dict[str, set[str]] = {}
    for backend in registry.backends():
        distribution = registry.distribution_of(backend)
        if distribution and distribution != "optuna-storage-kit":
            served.setdefault(distribution, set()).update(backend.schemes)
    listed: dict[str, set[str]] = {}
    for scheme, (distribution, _extra) in KNOWN_SCHEMES.items():
        listed.setdefault(distribution, set()).add(scheme)
    shipped = set().union(*(d for e, d in _extras().items() if e != "all"))
    assert {d: s for d, s in served.items() if d in shipped} == listed
