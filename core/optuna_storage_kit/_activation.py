"""Teach Optuna ``optuna+`` URLs when Optuna is imported, without importing Optuna now.

The core's wheel installs ``optuna_storage_kit-autoload.pth`` into site-packages. Python runs its
one line at every start-up: unless ``OSK_AUTOLOAD`` is ``0`` (or ``false``, ``no``, ``off``), it
imports this package, whose ``__init__`` calls :func:`activate`. ``import optuna_storage_kit``
calls it too, so an explicit import works where the ``.pth`` file does not run (``python -S``,
``OSK_AUTOLOAD=0``).

:func:`activate` imports nothing: it puts a finder first on ``sys.meta_path`` that watches three
modules. When one of them has been executed, the finder hands it to
:mod:`optuna_storage_kit.runtime.optuna_hook`, which wraps the function that turns storage
strings into storages there, for ``optuna+`` strings only; once all three are done, the finder
removes itself. A target imported already is patched at once. Any failure in here is logged at
debug level on the ``optuna_storage_kit`` logger and leaves the module as it was.

This module and the package ``__init__`` are all that run at start-up when Optuna is never
imported, so they import nothing beyond ``sys``; ``core/tests/test_activation.py`` holds them
to 2 ms with ``python -X importtime``.
"""

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

__all__ = ["TARGETS", "activate", "pending"]

TARGETS = ("optuna.storages", "optuna.cli", "optuna_dashboard._storage_url")
"""The modules where Optuna and optuna-dashboard turn storage strings into storages."""


class _PostImportFinder:
    """Runs :func:`_patch` right after a watched module has been executed.

    It finds the module's spec with the other finders on ``sys.meta_path`` and lets the
    module's own loader execute it; it only adds a step after the loader's ``exec_module``.
    """

    def __init__(self) -> None:
        self.pending: set[str] = set()

    def find_spec(
        self, fullname: str, path: "Sequence[str] | None", target: "ModuleType | None" = None
    ) -> "ModuleSpec | None":
        if fullname not in self.pending:
            return None
        try:
            return self._hooked_spec(fullname, path, target)
        except Exception as err:  # never break an import: let the others find it
            _debug(f"cannot watch the import of {fullname}", err)
            return None

    def _hooked_spec(
        self, fullname: str, path: "Sequence[str] | None", target: "ModuleType | None"
    ) -> "ModuleSpec | None":
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec: ModuleSpec | None = find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        original = getattr(loader, "exec_module", None)
        if original is None:
            return None
        finder = self

        def exec_module(module: "ModuleType") -> None:
            if getattr(module, "__name__", None) != fullname:  # a loader shared by modules
                original(module)
                return
            try:
                original(module)
            finally:
                vars(loader).pop("exec_module", None)
            try:
                finder.done(fullname, module)
            except Exception as err:  # the module is imported: never fail its import now
                _debug(f"cannot teach {fullname} optuna+ URLs; it is left as it was", err)

        loader.exec_module = exec_module  # type: ignore[method-assign,union-attr]
        return spec

    def done(self, name: str, module: "ModuleType") -> None:
        self.pending.discard(name)
        if not self.pending:
            import contextlib  # loaded by now: this runs after an import of Optuna

            with contextlib.suppress(ValueError):  # another thread removed it
                sys.meta_path.remove(self)
        _patch(name, module)


_finder = _PostImportFinder()


def activate() -> None:
    """Teach Optuna, its CLI and optuna-dashboard ``optuna+`` URLs; calling again does nothing.

    Targets imported already are patched now; the others when they are imported. Never raises.
    """
    try:
        for name in TARGETS:
            module = sys.modules.get(name)
            if module is not None:
                _finder.pending.discard(name)
                _patch(name, module)
            else:
                _finder.pending.add(name)
        if _finder.pending and _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)
    except Exception as err:
        _debug("activation failed", err)


def pending() -> frozenset[str]:
    """The targets not imported yet, which the finder still watches."""
    return frozenset(_finder.pending)


def _patch(name: str, module: "ModuleType") -> None:
    try:
        from optuna_storage_kit.runtime import optuna_hook

        optuna_hook.patch(name, module)
    except Exception as err:
        _debug(f"cannot teach {name} optuna+ URLs; it is left as it was", err)


def _debug(message: str, err: BaseException) -> None:
    try:
        import logging

        logging.getLogger("optuna_storage_kit").debug(
            "%s: %s: %s", message, type(err).__name__, err
        )
    except Exception:  # pragma: no cover - logging itself is broken
        pass
