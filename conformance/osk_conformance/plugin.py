"""The pytest plugin (entry point ``pytest11``): options, fixtures and markers of the kit.

Run the kit against a backend::

    pytest --pyargs osk_conformance.suite --osk-url 'optuna+sqlite:///study.db'
    pytest --pyargs osk_conformance.suite --osk-factory my_pkg.testing:factory

Fixtures for a third party's own tests: ``osk_target`` (the backend under test, one test per
``--osk-url``/``--osk-factory``), ``osk_storage`` (a fresh storage), ``osk_open`` (open the
store of a directory again, e.g. from a new storage object), ``osk_reference`` (the reference
backend), ``osk_quick``, ``osk_seed`` (the run's seed, ``--osk-seed``) and ``osk_zygote``
(forks child processes from one warm process). Mark a test
``@pytest.mark.osk_requires("durable")`` to skip it, with the reason shown, on backends that do
not claim the capability.

A backend's own test suite runs the kit's categories the way a SQLAlchemy dialect runs the
dialect suite: a test module imports the category's tests and names its targets in
``osk_targets`` (used when no ``--osk-url``/``--osk-factory`` is given)::

    from osk_conformance.suite.test_api import *  # noqa: F403
    from osk_conformance import Target

    osk_targets = [Target.from_url("optuna+mydb:///{dir}/store")]
"""

from __future__ import annotations

import itertools
import random
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from optuna.storages import BaseStorage

from osk_conformance._pool import ProcessPool
from osk_conformance._target import Target
from osk_conformance._zygote import Zygote

__all__ = ["ASYNC_CATEGORIES", "FIGURES", "SEED", "TARGETS", "record_figures"]

TARGETS = pytest.StashKey[list[Target]]()
FIGURES = pytest.StashKey[dict[str, dict[str, Any]]]()
SEED = pytest.StashKey[int]()
ASYNC_CATEGORIES = ("api", "model", "serialization")
"""Categories run a second time through ``storage.aio`` for backends claiming ``async_api``."""
_counter = itertools.count()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("osk", "optuna-storage-kit conformance kit")
    group.addoption(
        "--osk-url",
        action="append",
        default=[],
        metavar="URL",
        help="Storage URL (or template with {dir}/{name}) of a backend under test; repeatable.",
    )
    group.addoption(
        "--osk-factory",
        action="append",
        default=[],
        metavar="MODULE:CALLABLE",
        help="Factory callable(directory, **options) of a backend under test; repeatable.",
    )
    group.addoption(
        "--osk-quick",
        action="store_true",
        default=False,
        help="Scaled-down workloads and fewer examples (about a minute for the memory backend).",
    )
    group.addoption(
        "--osk-baseline",
        default=None,
        metavar="FILE",
        help="A previous certificate (JSON): flag counts up >5%% and ratios up >25%%.",
    )
    group.addoption(
        "--osk-workers",
        type=int,
        default=8,
        metavar="N",
        help="Threads and processes in the concurrency tests (default 8).",
    )
    group.addoption(
        "--osk-seed",
        type=int,
        default=None,
        metavar="N",
        help="Seed of the random choices (kill points, Hypothesis examples); default: 0 with "
        "--osk-quick, else random; shown in the certificate so a run can be replayed.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "osk_requires(*capabilities): skip unless the backend claims them all"
    )
    targets = [Target.from_url(u) for u in config.getoption("osk_url")]
    targets += [Target.from_factory(f) for f in config.getoption("osk_factory")]
    config.stash[TARGETS] = targets
    config.stash[FIGURES] = {}
    seed = config.getoption("osk_seed")
    if seed is None:  # quick runs repeat (CI); full runs explore, replayable by the seed
        seed = 0 if config.getoption("osk_quick") else random.SystemRandom().randrange(2**32)
    config.stash[SEED] = int(seed)


def pytest_report_header(config: pytest.Config) -> str:
    return f"osk-conformance seed: {config.stash[SEED]} (replay with --osk-seed)"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "osk_target" in metafunc.fixturenames:
        declared = getattr(metafunc.module, "osk_targets", [])  # a backend's own test module
        targets = metafunc.config.stash[TARGETS] or list(declared)
        if _category_of_path(Path(str(metafunc.definition.path))) in ASYNC_CATEGORIES:
            targets = [*targets, *(t.via_async() for t in targets if t.has("async_api"))]
        metafunc.parametrize(
            "osk_target", targets, ids=[t.label for t in targets], scope="session"
        )


def pytest_runtest_setup(item: pytest.Item) -> None:
    target = _target_of(item)
    if target is None:
        return
    for mark in item.iter_markers("osk_requires"):
        missing = [c for c in mark.args if not target.has(c)]
        if missing:
            pytest.skip(
                f"{target.name} does not claim capability {', '.join(missing)}: "
                "test not applicable"
            )


def _target_of(item: pytest.Item) -> Target | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    target = callspec.params.get("osk_target")
    return target if isinstance(target, Target) else None


def _category_of_path(path: Path) -> str | None:
    """The kit's category of a test module: ``test_<category>.py`` in the suite."""
    if path.parent.name == "suite" and path.parent.parent.name == "osk_conformance":
        return path.stem.removeprefix("test_")
    return None


@pytest.fixture(scope="session")
def osk_quick(request: pytest.FixtureRequest) -> bool:
    """Whether ``--osk-quick`` was given."""
    return bool(request.config.getoption("osk_quick"))


@pytest.fixture(scope="session")
def osk_seed(request: pytest.FixtureRequest) -> int:
    """The run's seed (``--osk-seed``, else drawn at random); tests derive theirs from it."""
    return request.config.stash[SEED]


@pytest.fixture(scope="session")
def osk_workers(request: pytest.FixtureRequest) -> int:
    """How many threads/processes the concurrency tests use."""
    return int(request.config.getoption("osk_workers"))


@pytest.fixture(scope="session")
def osk_reference() -> Target:
    """The reference backend (``optuna+memory://``)."""
    return Target.reference()


@pytest.fixture(scope="session")
def osk_process_pool(osk_workers: int) -> Iterator[ProcessPool]:
    """A pool of ``--osk-workers`` spawned worker processes, started once per session."""
    with ProcessPool(osk_workers) as pool:
        yield pool


@pytest.fixture(scope="session")
def osk_zygote(osk_target: Target) -> Iterator[Zygote]:
    """Forks the kit's child processes from one warm process (see ``_zygote``)."""
    zygote = Zygote(osk_target.spec)
    yield zygote
    zygote.close()


@pytest.fixture
def osk_dir() -> Iterator[Path]:
    """A fresh directory for one store (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix=f"osk-{next(_counter)}-") as name:
        yield Path(name)


@pytest.fixture
def osk_open(osk_target: Target, osk_dir: Path) -> Iterator[Callable[..., BaseStorage]]:
    """``osk_open(**options)`` opens this test's store (a new storage object each call).

    On a shared store, the ``osk-``-named studies the test created are deleted afterwards, and
    nothing else.
    """

    def open_(directory: Path | None = None, **options: Any) -> BaseStorage:
        return osk_target.open(directory or osk_dir, **options)

    before = _study_ids(open_()) if osk_target.shared else set()
    yield open_
    if osk_target.shared:
        storage = open_()
        for study in storage.get_all_studies():
            if study._study_id not in before and study.study_name.startswith("osk-"):
                storage.delete_study(study._study_id)


def _study_ids(storage: BaseStorage) -> set[int]:
    return {s._study_id for s in storage.get_all_studies()}


@pytest.fixture
def osk_storage(osk_open: Callable[..., BaseStorage]) -> BaseStorage:
    """A storage of the backend under test on a fresh store."""
    return osk_open()


@pytest.fixture
def osk_fresh_storage(osk_target: Target, osk_storage: BaseStorage) -> BaseStorage:
    """Like ``osk_storage`` but skips when the target cannot give an empty store."""
    if osk_target.shared:
        pytest.skip(
            "the URL names one shared store, and this test needs an empty one: certify with "
            "a URL template ({dir} or {name}) or a factory to run it"
        )
    return osk_storage


def record_figures(
    request: pytest.FixtureRequest, target: Target, workload: str, figures: dict[str, Any]
) -> None:
    """Keep a workload's performance figures for the certificate (and the JUnit XML)."""
    request.config.stash[FIGURES].setdefault(target.label, {})[workload] = figures
    for key, value in figures.items():
        request.node.user_properties.append((f"{workload}.{key}", value))
