"""optuna-dashboard on a database this backend writes: served over Optuna's RDBStorage, live."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.request
import wsgiref.simple_server
from collections.abc import Iterator
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

import optuna_storage_kit as osk

from .conftest import kit_url, rdb_url

optuna_dashboard = pytest.importorskip("optuna_dashboard")


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _dashboard(database: str) -> Iterator[str]:
    """optuna-dashboard's WSGI app over RDBStorage on ``database``, on a loopback port."""
    storage = optuna.storages.RDBStorage(rdb_url(database))
    app = optuna_dashboard.wsgi(storage)
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        storage.engine.dispose()


def _get(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=30) as response:
        return json.loads(response.read())


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    k = trial.suggest_int("k", 0, 9)
    trial.set_user_attr("tag", f"t{trial.number}")
    for step in range(3):
        trial.report(x + step, step)
    return x * x + k


@pytest.fixture
def storage(empty_tables: str) -> Iterator[Any]:
    storage = osk.open_storage(kit_url(empty_tables))  # default options: buffered writes
    yield storage
    storage.inner.close()


def test_dashboard_shows_what_the_backend_writes(empty_tables: str, storage: Any) -> None:
    study = optuna.create_study(
        study_name="dash", storage=storage, sampler=optuna.samplers.RandomSampler(3)
    )
    study_id = study._study_id
    writer = threading.Thread(target=study.optimize, args=(_objective,), kwargs={"n_trials": 40})
    writer.start()
    try:
        with _dashboard(empty_tables) as live:
            while writer.is_alive():  # read while the backend writes
                detail = _get(live, f"/api/studies/{study_id}")
                numbers = [t["number"] for t in detail["trials"]]
                assert numbers == list(range(len(numbers)))
                for trial in detail["trials"]:
                    if trial["state"] == "Complete":
                        assert len(trial["values"]) == 1 and len(trial["params"]) == 2
    finally:
        writer.join()
    # A fresh dashboard: the live one caches its trial list for a couple of seconds.
    with _dashboard(empty_tables) as dashboard:
        summaries = _get(dashboard, "/api/studies")["study_summaries"]
        detail = _get(dashboard, f"/api/studies/{study_id}")

    assert [(s["study_id"], s["study_name"]) for s in summaries] == [(study_id, "dash")]
    assert summaries[0]["directions"] == ["minimize"]

    expected = study.get_trials(deepcopy=False)
    assert len(detail["trials"]) == len(expected) == 40
    for shown, trial in zip(detail["trials"], expected, strict=True):
        assert shown["trial_id"] == trial._trial_id
        assert shown["number"] == trial.number
        assert shown["state"] == "Complete" == trial.state.name.capitalize()
        assert shown["values"] == trial.values
        params = {p["name"]: p["param_internal_value"] for p in shown["params"]}
        assert params == {"x": trial.params["x"], "k": trial.params["k"]}
        assert shown["intermediate_values"] == [
            {"step": s, "value": v} for s, v in sorted(trial.intermediate_values.items())
        ]
        assert {a["key"]: a["value"] for a in shown["user_attrs"]} == {"tag": f"t{trial.number}"}
    assert [t["number"] for t in detail["best_trials"]] == [study.best_trial.number]
    assert all(t.state == TrialState.COMPLETE for t in expected)
