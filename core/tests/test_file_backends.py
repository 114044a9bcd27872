"""File backends: the toolkit's rule for file URLs, and the tools a backend gets by declaring
``file_path`` (a third party's as much as ours)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import optuna_storage_kit as osk
from optuna_storage_kit.toolkit.files import url_file
from optuna_storage_kit.tools import bench, demo
from optuna_storage_kit.tools.locations import classify, file_backends, open_any


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("optuna+x:///study.db", "study.db"),
        ("optuna+x:///dir/study.db?option=1", "dir/study.db"),
        ("optuna+x:////abs/dir/study.db", "/abs/dir/study.db"),
    ],
)
def test_url_file_is_the_path_as_written(url: str, path: str) -> None:
    assert url_file(osk.StorageURL(url)) == Path(path)


@pytest.mark.parametrize(
    ("url", "problem", "fix"),
    [
        ("optuna+x://host/s.db", "names a host", "'optuna+x:///s.db'"),
        ("optuna+x://user@/s.db", "names a host", "'optuna+x:////absolute/path/s.db'"),
        ("optuna+x://", "names no file", "'optuna+x:///study.x'"),
        ("optuna+x:///:memory:", "names no file", "'optuna+memory://'"),
    ],
)
def test_bad_file_urls_are_one_line_naming_the_url_and_the_fix(
    url: str, problem: str, fix: str
) -> None:
    with pytest.raises(osk.InvalidURLError) as info:
        url_file(osk.StorageURL(url), example="study.x")
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(osk.StorageURL(url)))
    assert problem in message and fix in message


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"file_path": "study.db"}, "file_path is not callable"),
        ({"file_path": url_file, "file_suffix": 1}, "file_suffix 1 must be a str"),
        ({"default_rank": 1.5}, "default_rank 1.5 must be an int"),
        ({"default_rank": True}, "default_rank True must be an int"),
    ],
)
def test_invalid_file_facts_are_reported(fields: dict[str, object], problem: str) -> None:
    backend = osk.Backend(
        name="x",
        schemes=("x",),
        version="1",
        spec_version=osk.SPEC_VERSION,
        open=lambda url, options: osk.open_storage("optuna+memory://"),
        **fields,  # type: ignore[arg-type]
    )
    assert any(problem in p for p in backend.problems()), backend.problems()


@pytest.fixture
def third_party_file_backend(tmp_path: Path) -> Iterator[osk.Backend]:
    """A file backend registered in the global registry for the test: a memory store whose
    ``file_path`` names a file (the tools only read the declaration)."""
    opened: dict[Path, object] = {}

    def open_store(url: osk.StorageURL, options: object) -> object:
        path = url_file(url)
        path.touch()
        return opened.setdefault(path, osk.open_storage("optuna+memory://").inner)

    backend = osk.Backend(
        name="thirdfile",
        schemes=("thirdfile",),
        version="1.0",
        spec_version=osk.SPEC_VERSION,
        open=open_store,  # type: ignore[arg-type]
        capabilities=osk.Capabilities(thread_safe=True),
        file_path=url_file,
        file_suffix=".tf",
        default_rank=1000,
    )
    registry = osk.get_registry()
    registry.register_backend(backend)
    try:
        yield backend
    finally:
        registry.unregister_backend(backend.name)


def test_a_third_party_file_backend_gets_the_tools(
    third_party_file_backend: osk.Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # osk demo prefers the highest default_rank and makes a fresh file with its suffix.
    url = demo.default_url()
    assert url.startswith("optuna+thirdfile:////") and url.endswith("/demo.tf")
    # osk bench measures a fresh file on it, beside the other file backends.
    assert f"optuna+thirdfile:///{tmp_path}/bench-thirdfile.tf" in bench.default_urls(tmp_path)
    # osk copy tells one store by its file, however the URL spells it.
    monkeypatch.chdir(tmp_path)
    a = classify("optuna+thirdfile:///s.tf")
    assert a.file == tmp_path / "s.tf"
    assert a.same_store(classify(f"optuna+thirdfile:///{tmp_path}/s.tf?option=1"))
    assert not a.same_store(classify("optuna+thirdfile:///other.tf"))
    # A source must exist: nothing is created for a typo.
    with pytest.raises(osk.StorageKitError, match="no such file"):
        open_any("optuna+thirdfile:///missing.tf", must_exist=True)
    assert not (tmp_path / "missing.tf").exists()


def test_demo_uses_the_file_backend_of_highest_rank_ours_sqlite_then_journal() -> None:
    ranked = file_backends()
    ours = [b.name for b in ranked if b.name in ("sqlite-rust", "journal")]
    assert ours == [n for n in ("sqlite-rust", "journal") if n in ours]
    expected = f"optuna+{ranked[0].schemes[0]}:///" if ranked else "optuna+memory://"
    assert demo.default_url().startswith(expected)
