"""``osk new-backend NAME``: generate a third-party backend package that works as generated.

The package (``osk-NAME``, module ``osk_NAME``) has the entry point, the hook implementation,
a working storage (Optuna's in-memory storage, one store per name, to be replaced), tests on the
conformance kit's pytest fixtures, and a tox.ini running them and ``osk certify``. The
templates are in ``tools/templates/backend``; ``__module__`` in a path becomes the module name,
``.tmpl`` is dropped, and ``${name}``-style placeholders are filled.
"""

from __future__ import annotations

import re
import string
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import optuna_storage_kit as osk
from optuna_storage_kit.errors import StorageKitError

__all__ = ["NAME_PATTERN", "generate"]

# The name is also the URL scheme, which SQLAlchemy's URL grammar limits to letters and digits
# here (it would take '_', which Backend.schemes refuses, and refuses '-').
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*$")


def generate(name: str, parent: Path) -> Path:
    """Write the package for backend ``name`` into ``parent/osk-<name>`` and return that path.

    Args:
        name: The backend's name, which is also its URL scheme (``optuna+<name>://``): lower
            case letters and digits, starting with a letter.
        parent: The directory to create the package in.

    Raises:
        StorageKitError: ``name`` is invalid, clashes with an installed backend's scheme, or
            the target directory exists (nothing is written then).
    """
    if not NAME_PATTERN.match(name):
        raise StorageKitError(
            f"{name!r} is not a valid backend name: it is also the URL scheme "
            f"(optuna+NAME://), so use lower case letters and digits, starting with a letter "
            "(e.g. 'mydb')"
        )
    taken = osk.get_registry().schemes()
    if name in taken:
        raise StorageKitError(
            f"'optuna+{name}://' is already served by an installed backend; choose another name"
        )
    module = f"osk_{name}"
    target = parent / f"osk-{name}"
    if target.exists():
        raise StorageKitError(f"{target} already exists; remove it or choose another directory")
    values = {
        "name": name,
        "scheme": name,
        "module": module,
        "dist": f"osk-{name}",
        "osk_version": _release(osk.__version__),
    }
    root = resources.files("optuna_storage_kit.tools") / "templates" / "backend"
    for source, relative in _walk(root, ""):
        path = target / relative.replace("__module__", module).removesuffix(".tmpl")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(string.Template(source.read_text()).substitute(values))
    return target


def _walk(node: Traversable, prefix: str) -> list[tuple[Traversable, str]]:
    found = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        relative = f"{prefix}{child.name}"
        if child.is_dir():
            if child.name != "__pycache__":
                found += _walk(child, relative + "/")
        elif child.name.endswith(".tmpl"):
            found.append((child, relative))
    return found


def _release(version: str) -> str:
    """``0.1.0.dev3`` -> ``0.1.0``: the lowest version the package may depend on."""
    match = re.match(r"\d+(\.\d+)*", version)
    return match.group(0) if match else "0"
