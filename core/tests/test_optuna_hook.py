"""The private functions of Optuna and optuna-dashboard that the kit wraps, and their versions."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import optuna
import optuna.cli
import pytest
from optuna.storages import JournalStorage, RDBStorage
from optuna_dashboard import _storage_url  # type: ignore[import-untyped]
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import optuna_storage_kit as osk
from optuna_storage_kit.runtime.optuna_hook import TESTED_VERSIONS, wrapped


@pytest.mark.parametrize("distribution", sorted(TESTED_VERSIONS))
def test_installed_versions_are_tested_ones(distribution: str) -> None:
    """Optuna 5.x and optuna-dashboard 0.21+: a new major version fails here on purpose.

    Before widening TESTED_VERSIONS, check that the wrapped functions (see optuna_hook's
    docstring) still mean what they meant, and that the tests of this folder pass.
    """
    installed = Version(version(distribution))
    assert installed in SpecifierSet(TESTED_VERSIONS[distribution]), (
        f"{distribution} {installed} is outside the tested {TESTED_VERSIONS[distribution]}"
    )
    assert installed.major == {"optuna": 5, "optuna-dashboard": 0}[distribution]


def test_every_wrapped_function_matches_in_the_tested_versions() -> None:
    # This process's .pth activation wrapped them when they were imported above.
    assert wrapped("optuna.storages") == ["optuna.storages.get_storage"]
    assert wrapped("optuna.cli") == [
        "optuna.cli._StorageUpgrade.take_action",
        "optuna.cli._get_storage",
    ]
    assert wrapped("optuna_dashboard._storage_url") == [
        "optuna_dashboard._storage_url.guess_storage_from_url"
    ]


def test_wrappers_hand_optuna_plus_strings_to_the_kit() -> None:
    url = "optuna+memory://hook"
    assert isinstance(optuna.storages.get_storage(url), osk.KitStorage)
    assert isinstance(optuna.cli._get_storage(url, None), osk.KitStorage)
    assert isinstance(_storage_url.get_storage(url), osk.KitStorage)


def test_wrappers_hand_everything_else_to_the_original(tmp_path: Path) -> None:
    journal = tmp_path / "j.log"
    journal.touch()
    assert isinstance(optuna.cli._get_storage(str(journal), None), JournalStorage)
    assert isinstance(_storage_url.get_storage(str(journal)), JournalStorage)
    rdb = f"sqlite:///{tmp_path / 'r.db'}"
    assert isinstance(optuna.cli._get_storage(rdb, None), RDBStorage)
    assert isinstance(_storage_url.get_storage(rdb), RDBStorage)
    with pytest.raises(optuna.exceptions.CLIUsageError, match="Failed to guess"):
        optuna.cli._get_storage("not a url", None)
