"""The kit's own parts: targets and URL templates, figures checks, certificate, CLI, plugin."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import optuna_storage_kit as osk
from osk_conformance import Target, factory_from_url
from osk_conformance._async_driver import AsyncDriven
from osk_conformance._certify import CATEGORIES, Collector, Outcome
from osk_conformance._cli import certify
from osk_conformance._commands import register_commands
from osk_conformance._perf import check_figures, known_threshold
from osk_conformance._report import build_certificate, markdown
from osk_conformance._target import installed_targets, render, url_template
from osk_conformance._zygote import Zygote


@pytest.mark.parametrize(
    ("url", "template"),
    [
        ("optuna+memory://", "optuna+memory://{name}"),
        ("optuna+sqlite:///study.db", "optuna+sqlite:///{dir}/study.db"),
        ("optuna+journal:////abs/path/x.log", "optuna+journal:///{dir}/x.log"),
        ("optuna+postgresql://u@h:5432/db", "optuna+postgresql://u@h:5432/db"),
        ("optuna+pg://u@h/{name}", "optuna+pg://u@h/{name}"),
        (
            "optuna+sqlite:///s.db?write_behind=false",
            "optuna+sqlite:///{dir}/s.db?write_behind=false",
        ),
        ("optuna+memory://?a=1", "optuna+memory://{name}?a=1"),
        ("optuna+pg://u@h/db?write_behind=false", "optuna+pg://u@h/db?write_behind=false"),
    ],
)
def test_url_template(url: str, template: str) -> None:
    assert url_template(url) == template


def test_render_is_stable_per_directory(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    one = render("optuna+x:///{dir}/s.db?{name}", a)
    assert one == render("optuna+x:///{dir}/s.db?{name}", a)
    assert one != render("optuna+x:///{dir}/s.db?{name}", b)
    assert one.startswith(f"optuna+x:///{a.resolve()}/s.db?osk")
    assert osk.StorageURL(render("optuna+x:///{dir}/s.db", a)).database == f"{a.resolve()}/s.db"


def test_memory_target_reopens_same_store_per_directory(tmp_path: Path) -> None:
    target = Target.from_url("optuna+memory://")
    assert target.name == "memory" and target.has("thread_safe") and not target.shared
    first = target.open(tmp_path / "a")
    study_id = first.create_new_study([optuna_direction()], "kept")
    assert target.open(tmp_path / "a").get_study_name_from_id(study_id) == "kept"
    assert target.open(tmp_path / "b").get_all_studies() == []


def optuna_direction():  # type: ignore[no-untyped-def]
    from optuna.study import StudyDirection

    return StudyDirection.MINIMIZE


def test_factory_from_url_declares_backend_facts(tmp_path: Path) -> None:
    factory = factory_from_url("optuna+memory://{name}", thresholds={"random_5000.ratio": 2})
    assert factory.capabilities == osk.Capabilities(
        thread_safe=True, heartbeat=True, large_steps=True
    )
    assert factory.thresholds == {"random_5000.ratio": 2}
    assert factory.name == "memory"
    storage = factory(str(tmp_path))
    storage.create_new_study([optuna_direction()], "x")
    assert [s.study_name for s in factory(str(tmp_path)).get_all_studies()] == ["x"]


def test_shared_url_is_marked_shared() -> None:
    assert Target.from_url("optuna+memory://one-store").shared


def test_factory_path_must_name_a_callable() -> None:
    with pytest.raises(ValueError, match="module:callable"):
        Target.from_factory("no_colon_here")


def test_installed_targets_include_memory() -> None:
    targets = installed_targets()
    assert isinstance(targets["memory"], Target)
    assert targets["memory"].spec == "url:optuna+memory://"


def test_thresholds_and_baseline() -> None:
    figures = {"ratio": 3.0, "statements_per_trial": 10.0}
    assert check_figures("random_5000", figures, {"random_5000.ratio": 3.0}, None) == []
    problems = check_figures(
        "random_5000",
        figures,
        {"random_5000.ratio": 2.5, "random_5000.fsyncs_per_trial": 1, "tpe_1000.ratio": 0.1},
        {"ratio": 2.0, "statements_per_trial": 9.0},
    )
    assert problems == [
        "random_5000.ratio is 3, above the backend's threshold 2.5",
        "threshold random_5000.fsyncs_per_trial = 1 but the backend reports no fsyncs_per_trial",
        "regression: random_5000.ratio 3 vs baseline 2 (+25% max)",
        "regression: random_5000.statements_per_trial 10 vs baseline 9 (+5% max)",
    ]
    assert (
        check_figures("random_5000", figures, {}, {"ratio": 2.5, "statements_per_trial": 9.6})
        == []
    )


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("random_5000.ratio", True),
        ("processes_8.fsyncs_per_trial", True),
        ("random_5000.speed", False),
        ("nope.ratio", False),
    ],
)
def test_known_threshold_names(name: str, known: bool) -> None:
    assert known_threshold(name) is known


def test_certificate_names_skips_and_failures() -> None:
    collector = Collector()
    collector.outcomes = {
        "a": Outcome("test_api.py::t1", "api", "passed"),
        "b": Outcome("test_durability.py::t2", "durability", "skipped", "x does not claim y"),
        "c": Outcome("test_model.py::t3", "model", "failed", "candidate != reference"),
    }
    collector.figures = {
        "memory": {
            "random_5000": {"trials": 5, "seconds": 1, "reference_seconds": 1, "ratio": 1.0}
        }
    }
    cert = build_certificate(
        Target.reference(),
        collector,
        quick=True,
        categories=list(CATEGORIES),
        exit_code=1,
        seed=1234,
    )
    assert cert["result"] == "fail"
    assert cert["categories"]["api"]["status"] == "pass"
    assert cert["categories"]["durability"]["status"] == "skip"
    assert cert["categories"]["model"]["status"] == "fail"
    assert cert["versions"]["optuna"]
    assert cert["versions"]["spec_version"] == str(osk.SPEC_VERSION)
    text = markdown(json.loads(json.dumps(cert, default=str)))
    assert "durability: x does not claim y" in text
    assert "candidate != reference" in text and "random_5000" in text
    assert cert["seed"] == 1234 and "osk certify 'optuna+memory://' --quick --seed 1234" in text


def test_cli_needs_exactly_one_target() -> None:
    runner = CliRunner()
    assert runner.invoke(certify, []).exit_code == 2
    both = runner.invoke(certify, ["optuna+memory://", "--factory", "a:b"])
    assert both.exit_code == 2 and "exactly one" in both.output


def test_register_commands_adds_certify() -> None:
    group = click.Group("osk")
    register_commands(group)
    assert group.commands["certify"] is certify


def test_registry_loads_the_commands_plugin() -> None:
    group = click.Group("osk")
    warnings: list[str] = []
    osk.get_registry().add_commands(group, warnings.append)
    assert "certify" in group.commands and warnings == []


THIRD_PARTY_TESTS = """
import pytest

def test_fresh(osk_storage, osk_target):
    assert osk_storage.get_all_studies() == []
    assert osk_target.name == "memory"

def test_reopen(osk_open):
    from optuna.study import StudyDirection
    study_id = osk_open().create_new_study([StudyDirection.MINIMIZE], "s")
    assert osk_open().get_study_name_from_id(study_id) == "s"

@pytest.mark.osk_requires("durable")
def test_needs_durable(osk_target):
    raise AssertionError("must be skipped")
"""


def test_fixtures_for_third_party_suites(tmp_path: Path) -> None:
    (tmp_path / "test_mine.py").write_text(THIRD_PARTY_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--osk-url", "optuna+memory://", "-p",
         "no:cacheprovider", "-rs", "-q", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout
    assert "2 passed, 1 skipped" in run.stdout
    assert "memory does not claim capability durable" in run.stdout


def _variant_backend() -> osk.Backend:
    from optuna_storage_kit.default_plugins.memory import MemoryStorage

    def claims(options: Mapping[str, Any]) -> osk.Capabilities:
        return osk.Capabilities(thread_safe=True, large_steps=not options["narrow"])

    return osk.Backend(
        name="kit-variant",
        schemes=("kitvariant",),
        version="0",
        spec_version=osk.SPEC_VERSION,
        open=lambda url, options: MemoryStorage(),
        capabilities=claims({"narrow": False}),
        capabilities_for=claims,
        options=(osk.Option("narrow", bool, False, "Claim no large steps."),),
        visibility_delay_s=lambda options: 0.5 if options["narrow"] else 0.0,
    )


@pytest.fixture
def variant_backend() -> Iterator[osk.Backend]:
    registry = osk.get_registry()
    backend = _variant_backend()
    registry.register_backend(backend)
    yield backend
    registry.unregister_backend(backend.name)


def test_url_options_certify_that_variant(variant_backend: osk.Backend, tmp_path: Path) -> None:
    default = Target.from_url("optuna+kitvariant://{name}")
    variant = Target.from_url("optuna+kitvariant://{name}?narrow=true")
    assert default.capabilities.large_steps and not variant.capabilities.large_steps
    assert variant.spec == "url:optuna+kitvariant://{name}?narrow=true"
    storage = variant.open(tmp_path)
    assert storage.visibility_delay_s == 0.5  # type: ignore[attr-defined]
    with pytest.raises(osk.InvalidOptionError, match="nope"):
        Target.from_url("optuna+kitvariant://{name}?nope=1")


ZYGOTE_CHILD = """
import atexit, sys, threading, time
atexit.register(lambda: print("atexit ran", flush=True))
def late():
    time.sleep(0.2)
    print("thread done", flush=True)
threading.Thread(target=late).start()
print("args", *sys.argv[1:], flush=True)
if sys.argv[1] == "wait":
    sys.stdin.readline()
sys.exit(3)
"""


def test_zygote_children_end_like_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "kit_zygote_child.py").write_text(ZYGOTE_CHILD)
    monkeypatch.syspath_prepend(str(tmp_path))
    zygote = Zygote()
    try:
        with zygote.spawn("kit_zygote_child", "go", "on") as child:
            lines = child.stdout.read().splitlines()
            assert child.wait() == 3
        assert lines == ["args go on", "thread done", "atexit ran"]
        with zygote.spawn("kit_zygote_child", "wait") as child:
            assert child.stdout.readline() == "args wait\n"
            child.kill()
            assert child.wait() == -signal.SIGKILL
            assert "atexit ran" not in child.stdout.read()
    finally:
        zygote.close()


def test_async_driver_runs_every_call_through_aio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    from api_backends import aio_side_door, memory_async_reference

    driven = AsyncDriven(memory_async_reference(str(tmp_path / "a")))
    study_id = driven.create_new_study([optuna_direction()], "s")
    trial_id = driven.create_new_trial(study_id)
    driven.set_trial_user_attr(trial_id, "t", (1, 2))
    assert driven.get_trial(trial_id).user_attrs == {"t": [1, 2]}
    assert driven.get_n_trials(study_id) == 1  # BaseStorage's own methods, on the async ones
    with pytest.raises(osk.SerializationError):
        driven.set_trial_user_attr(trial_id, "k", {1: 2})
    side_door = AsyncDriven(aio_side_door(str(tmp_path / "b")))
    trial_id = side_door.create_new_trial(side_door.create_new_study([optuna_direction()]))
    side_door.set_trial_user_attr(trial_id, "k", {1: 2})  # the bug the kit must catch
    assert side_door.get_trial(trial_id).user_attrs == {"k": {1: 2}}
    with pytest.raises(AssertionError, match=r"no \.aio"):
        AsyncDriven(osk.open_storage("optuna+memory://"))


def variant_factory(directory: str, **options: Any) -> Any:
    return osk.open_storage("optuna+kitvariant://store", **options)


variant_factory.name = "kit-variant"  # type: ignore[attr-defined]
variant_factory.capabilities = osk.Capabilities(thread_safe=True, large_steps=True)  # type: ignore[attr-defined]


def test_factory_options_certify_that_variant(
    variant_backend: osk.Backend, tmp_path: Path
) -> None:
    target = Target.from_factory(f"{__name__}:variant_factory?narrow=true")
    assert target.name == "kit-variant" and not target.capabilities.large_steps
    assert target.open(tmp_path).visibility_delay_s == 0.5  # type: ignore[attr-defined]
    assert Target.from_factory(f"{__name__}:variant_factory").capabilities.large_steps
