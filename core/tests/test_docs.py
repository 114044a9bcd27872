"""The hookspec is the contract: every hook is documented with its signature and version."""

from __future__ import annotations

import inspect

import pytest

import optuna_storage_kit as osk
from optuna_storage_kit.spec import hookspecs

HOOKS = [
    getattr(hookspecs, name)
    for name in dir(hookspecs)
    if hasattr(getattr(hookspecs, name), "optuna_storage_kit_spec")
]


def test_there_are_hooks() -> None:
    assert {h.__name__ for h in HOOKS} == {"register_backends", "register_commands"}


@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: h.__name__)
def test_hook_is_documented_like_a_contract(hook: object) -> None:
    doc = inspect.getdoc(hook) or ""
    params = inspect.signature(hook).parameters  # type: ignore[arg-type]
    assert params, "a hook takes arguments"
    for name in params:
        assert f"{name}:" in doc, f"argument {name!r} is not documented"
    assert "Args:" in doc and "Raises:" in doc
    assert "Since spec version" in doc


def test_spec_history_mentions_every_hook() -> None:
    module_doc = hookspecs.__doc__ or ""
    for hook in HOOKS:
        assert hook.__name__ in module_doc


def test_public_api_is_documented() -> None:
    for name in osk.__all__:
        obj = getattr(osk, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"


@pytest.mark.parametrize("field", osk.Capabilities.names())
def test_every_capability_has_a_docstring(field: str) -> None:
    source = inspect.getsource(osk.Capabilities)
    block = source.split(f"    {field}: bool = False", 1)[1]
    assert block.lstrip().startswith('"""'), f"capability {field!r} needs a one-line docstring"


def test_readme_opens_with_the_two_commands_ci_runs() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    lines = (root / "README.md").read_text().splitlines()
    assert lines[2:6] == [
        "```bash",
        "python3 -m pip install --quiet uv && uv sync && uv run osk demo",
        "uv run tox",
        "```",
    ]
    ci = (root / ".ci" / "run").read_text()
    assert "sed -n '3p'" in ci  # .ci/run runs the second line of that block
