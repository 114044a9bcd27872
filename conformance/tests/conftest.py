"""Fixtures of the kit's own tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent

Certify = Callable[..., tuple[int, dict[str, Any], str]]


def _certify(
    factory: str, out: Path, *only: str, select: str | None = None
) -> tuple[int, dict[str, Any], str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]))
    args = [
        sys.executable,
        "-m",
        "osk_conformance",
        "certify",
        "--factory",
        factory if ":" in factory else f"broken_backends:{factory}",
        "--quick",
        "--no-progress",
        "--out",
        str(out),
    ]
    for category in only:
        args += ["--only", category]
    if select:
        args += ["-k", select]
    run = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    certificate = json.loads((out / "certificate.json").read_text())
    return run.returncode, certificate, run.stdout + run.stderr


@pytest.fixture(scope="session")
def certify() -> Certify:
    """``certify(factory, out, *categories, select=None)``: run ``osk certify --quick`` in a
    subprocess on a factory of this folder (``broken_backends`` unless the name says
    ``module:callable``); return its exit code, its certificate and its output."""
    return _certify
