"""``toolkit.exports.lazy_exports``: a package's names import on first use, once."""

from __future__ import annotations

import sys
import types

import pytest

from optuna_storage_kit.toolkit.exports import lazy_exports


@pytest.fixture
def package(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("osk_lazy_pkg")
    monkeypatch.setitem(sys.modules, "osk_lazy_pkg", module)
    module.__getattr__, module.__dir__ = lazy_exports(  # type: ignore[method-assign]
        "osk_lazy_pkg", {"dumps": ("json", "dumps"), "decoder": ("json.decoder", None)}
    )
    return module


def test_a_name_loads_on_first_use_and_stays(package: types.ModuleType) -> None:
    import json
    import json.decoder

    assert "dumps" not in vars(package)
    assert package.dumps is json.dumps
    assert vars(package)["dumps"] is json.dumps  # later look-ups skip __getattr__
    assert package.decoder is json.decoder


def test_an_unknown_name_is_an_attribute_error(package: types.ModuleType) -> None:
    with pytest.raises(AttributeError, match="module 'osk_lazy_pkg' has no attribute 'nope'"):
        package.nope  # noqa: B018
    assert not hasattr(package, "nope")


def test_dir_lists_the_names_before_they_load(package: types.ModuleType) -> None:
    assert {"dumps", "decoder"} <= set(dir(package))
