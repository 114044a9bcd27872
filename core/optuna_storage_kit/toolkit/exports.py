"""A package's public names, imported on first use (PEP 562), so that importing it is cheap.

The registry imports every installed backend's plugin module to learn which schemes it serves;
a plugin module inside a package first runs the package's ``__init__``. A backend whose
``__init__`` imports its driver (asyncpg, SQLAlchemy, ...) makes every user of every other
backend pay for it at each ``open_storage``. With :func:`lazy_exports` the ``__init__`` names
its public API and imports nothing::

    from optuna_storage_kit.toolkit.exports import lazy_exports

    TYPE_CHECKING = False
    if TYPE_CHECKING:  # type checkers and IDEs see ordinary imports
        from my_backend._storage import MyStorage

    __all__ = ["MyStorage"]
    __getattr__, __dir__ = lazy_exports(
        __name__, {"MyStorage": ("my_backend._storage", "MyStorage")}
    )

This module imports nothing but :mod:`importlib` (not even :mod:`typing`): the core's own
``__init__``, which a ``.pth`` file imports at each interpreter start, uses it.
"""

from __future__ import annotations

import importlib
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, names: Mapping[str, tuple[str, str | None]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose public names load on first use.

    Args:
        package: The package's ``__name__``.
        names: Public name -> ``(module, attribute)``: the attribute of that module, or the
            module itself when ``attribute`` is ``None``.

    Returns:
        ``(__getattr__, __dir__)``, to assign at the package's module level. A name, once
        loaded, is stored in the package's namespace, so later look-ups cost nothing.
    """

    def __getattr__(name: str) -> Any:
        try:
            module_name, attribute = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module = importlib.import_module(module_name)
        value = module if attribute is None else getattr(module, attribute)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
