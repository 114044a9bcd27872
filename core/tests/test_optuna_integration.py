"""The seed use case: Optuna's own functions accept ``optuna+`` URL strings after import."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import optuna
import pytest

import optuna_storage_kit as osk

URL = "optuna+memory://integration"


@pytest.fixture(autouse=True)
def quiet() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", -1, 1) ** 2


def test_create_load_copy_summaries_delete() -> None:
    study = optuna.create_study(storage=URL, study_name="seed")
    study.optimize(objective, n_trials=10)
    assert isinstance(study._storage, osk.KitStorage)

    loaded = optuna.load_study(study_name="seed", storage=URL)
    assert len(loaded.trials) == 10 and loaded.best_value == study.best_value
    assert "seed" in optuna.get_all_study_names(storage=URL)
    [summary] = [s for s in optuna.get_all_study_summaries(storage=URL) if s.study_name == "seed"]
    assert summary.n_trials == 10

    optuna.copy_study(
        from_study_name="seed", from_storage=URL, to_storage="optuna+memory://copy-target"
    )
    copied = optuna.load_study(study_name="seed", storage="optuna+memory://copy-target")
    assert [t.params for t in copied.trials] == [t.params for t in study.trials]

    optuna.delete_study(study_name="seed", storage=URL)
    assert "seed" not in optuna.get_all_study_names(storage=URL)


def test_optunas_own_urls_are_untouched(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    study = optuna.create_study(storage=url)
    study.optimize(objective, n_trials=2)
    assert type(study._storage).__name__ == "_CachedStorage"  # Optuna's own path
    assert optuna.storages.get_storage(None).__class__ is optuna.storages.InMemoryStorage


def test_patch_is_installed_once() -> None:
    from optuna_storage_kit.runtime.optuna_hook import install

    before = optuna.storages.get_storage
    install()
    assert optuna.storages.get_storage is before
    assert before.__wrapped__.__module__ == "optuna.storages"  # type: ignore[attr-defined]


def test_unknown_scheme_through_optuna_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from optuna_storage_kit.runtime.extras import KNOWN_SCHEMES

    # A first-party scheme whose package is not installed (ours all are, in this workspace).
    monkeypatch.setitem(KNOWN_SCHEMES, "fakedb", ("osk-fakedb", "fakedb"))
    with pytest.raises(osk.NoSuchBackendError, match=r"optuna-storage-kit\[fakedb\]"):
        optuna.create_study(storage="optuna+fakedb:///x.db")


def test_strict_policy_applies_through_study_api() -> None:
    study = optuna.create_study(storage="optuna+memory://")
    trial = study.ask()
    with pytest.raises(osk.SerializationError, match=r"\.tolist\(\)"):
        trial.set_user_attr("weights", np.zeros(3))
    with pytest.raises(osk.SerializationError, match=r"\.item\(\)"):
        study.set_user_attr("best_epoch", np.int64(7))
    trial.set_user_attr("weights", np.zeros(3).tolist())
    study.tell(trial, 1.0)
    assert study.trials[0].user_attrs == {"weights": [0.0, 0.0, 0.0]}
    assert study.user_attrs == {}


def test_seed_snippet_in_a_fresh_interpreter() -> None:
    """Exactly what a user writes: import the kit, then plain Optuna with a URL string."""
    code = textwrap.dedent(
        """
        import optuna
        import optuna_storage_kit  # noqa: F401

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(storage="optuna+memory://seed", study_name="fast")
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=25)
        again = optuna.load_study(study_name="fast", storage="optuna+memory://seed")
        print(len(again.trials), type(again._storage).__name__)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.split() == ["25", "KitStorage"]
