"""The registry of backends, fed by entry points and by direct registration."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import threading
import warnings
from collections.abc import Callable
from typing import Any

import pluggy

from optuna_storage_kit.errors import (
    BackendUnavailableError,
    DuplicateSchemeError,
    IncompatiblePluginError,
    NoSuchBackendError,
    PluginError,
)
from optuna_storage_kit.runtime.extras import KNOWN_SCHEMES
from optuna_storage_kit.spec import hookspecs
from optuna_storage_kit.spec.backend import Backend

__all__ = ["BrokenPlugin", "Registry", "get_registry"]


@dataclasses.dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that failed to load, with the reason."""

    name: str
    """The entry point (or directly registered plugin) name."""
    distribution: str | None
    """The distribution that ships it, when known."""
    error: str
    """What went wrong, one line, e.g. ``ImportError: No module named 'asyncpg'``."""


@dataclasses.dataclass(frozen=True)
class _Entry:
    backend: Backend
    plugin: str
    distribution: str | None


class Registry:
    """Backends by name and scheme.

    Entry points of the ``optuna_storage_kit`` group are loaded on first use. Thread-safe.

    Args:
        entry_points: Load installed plugins from entry points. ``False`` gives an empty
            registry, for tests and applications that register backends themselves.
    """

    def __init__(self, *, entry_points: bool = True) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._entries: dict[str, _Entry] = {}
        self._broken: list[BrokenPlugin] = []
        self._loaded = not entry_points
        self._lock = threading.RLock()

    # -- loading ---------------------------------------------------------------------------
    def load(self, *, strict: bool = False) -> None:
        """Load the installed plugins, once.

        Args:
            strict: Raise :class:`~optuna_storage_kit.errors.PluginError` if any plugin is
                broken or two backends claim one scheme, instead of recording it.
        """
        with self._lock:
            if not self._loaded:
                self._loaded = True
                for entry_point in importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME):
                    self._load_entry_point(entry_point)
        if strict:
            problems = [f"{b.name}: {b.error}" for b in self._broken]
            problems += [str(self._conflict_error(s)) for s in self.conflicts()]
            if problems:
                raise PluginError("some storage plugins are unusable:\n  " + "\n  ".join(problems))

    def _load_entry_point(self, entry_point: importlib.metadata.EntryPoint) -> None:
        dist = entry_point.dist.name if entry_point.dist is not None else None
        try:
            plugin = entry_point.load()
        except Exception as err:  # one broken plugin must not break the others
            self._broken.append(BrokenPlugin(entry_point.name, dist, _one_line(err)))
            return
        self._add_plugin(plugin, entry_point.name, dist, raise_errors=False)

    def register_plugin(self, plugin: object, name: str | None = None) -> None:
        """Register a module or object with hook implementations, as an entry point would.

        Raises:
            PluginError: The plugin is invalid or its hook fails.
            DuplicateSchemeError: One of its schemes is already claimed.
        """
        self.load()
        plugin_name = name or getattr(plugin, "__name__", None) or repr(plugin)
        self._add_plugin(plugin, plugin_name, None, raise_errors=True)

    def register_backend(self, backend: Backend, *, replace: bool = False) -> None:
        """Register one backend directly, e.g. in a test or an application.

        Args:
            backend: The descriptor.
            replace: Drop any backend with the same name or a shared scheme first.

        Raises:
            PluginError: The descriptor is invalid or built for another spec version.
            DuplicateSchemeError: A scheme is claimed already and ``replace`` is false.
        """
        self.load()
        with self._lock:
            if replace:
                for entry in list(self._entries.values()):
                    if entry.backend.name == backend.name or set(entry.backend.schemes) & set(
                        backend.schemes
                    ):
                        del self._entries[entry.backend.name]
            self._check([backend], plugin="<direct>")
            self._claim([backend], "<direct>", None, raise_errors=True)

    def unregister_backend(self, name: str) -> None:
        """Remove a backend by name; unknown names are ignored."""
        with self._lock:
            self._entries.pop(name, None)

    def _add_plugin(
        self, plugin: object, name: str, dist: str | None, *, raise_errors: bool
    ) -> None:
        with self._lock:
            try:
                self._pm.register(plugin, name=name)
                self._pm.check_pending()
            except Exception as err:
                if self._pm.is_registered(plugin):
                    self._pm.unregister(plugin)
                self._fail(name, dist, err, raise_errors)
                return
            found: list[Backend] = []
            others = [p for p in self._pm.get_plugins() if p is not plugin]
            caller = self._pm.subset_hook_caller("register_backends", remove_plugins=others)
            try:
                caller(register=found.append)
                self._check(found, plugin=name)
            except Exception as err:  # its hook raised, or it registered something invalid
                self._pm.unregister(plugin)
                self._fail(name, dist, err, raise_errors)
                return
            self._claim(found, name, dist, raise_errors=raise_errors)

    def _fail(self, name: str, dist: str | None, err: Exception, raise_errors: bool) -> None:
        if raise_errors:
            if isinstance(err, PluginError):
                raise err
            raise PluginError(f"plugin {name!r} failed: {_one_line(err)}") from err
        self._broken.append(BrokenPlugin(name, dist, _one_line(err)))

    @staticmethod
    def _check(backends: list[Backend], *, plugin: str) -> None:
        for backend in backends:
            if not isinstance(backend, Backend):
                raise PluginError(
                    f"plugin {plugin!r} registered {type(backend).__name__}, "
                    "not an optuna_storage_kit.Backend"
                )
            _check_spec_version(backend, plugin)
            problems = backend.problems()
            if problems:
                raise PluginError(
                    f"backend {backend.name!r} from plugin {plugin!r} is invalid: "
                    + "; ".join(problems)
                )

    def _claim(
        self, backends: list[Backend], plugin: str, dist: str | None, *, raise_errors: bool
    ) -> None:
        for backend in backends:
            if backend.name in self._entries:
                other = self._entries[backend.name]
                err = PluginError(
                    f"backend name {backend.name!r} is registered by both {_who(other)} and "
                    f"{_who(_Entry(backend, plugin, dist))}; uninstall one of them"
                )
                self._fail(plugin, dist, err, raise_errors)
                continue
            if raise_errors:
                for scheme in backend.schemes:
                    claimants = [e for e in self._entries.values() if scheme in e.backend.schemes]
                    if claimants:
                        raise DuplicateSchemeError(
                            f"scheme 'optuna+{scheme}://' is claimed by both "
                            f"{_who(claimants[0])} and {_who(_Entry(backend, plugin, dist))}; "
                            "pass replace=True to override, or uninstall one"
                        )
            self._entries[backend.name] = _Entry(backend, plugin, dist)

    # -- queries ---------------------------------------------------------------------------
    def backends(self) -> list[Backend]:
        """Return the usable backends, sorted by name."""
        self.load()
        with self._lock:
            return sorted((e.backend for e in self._entries.values()), key=lambda b: b.name)

    def broken(self) -> list[BrokenPlugin]:
        """Return the plugins that failed to load."""
        self.load()
        with self._lock:
            return list(self._broken)

    def distribution_of(self, backend: Backend) -> str | None:
        """Return the distribution that registered ``backend``, if known."""
        entry = self._entries.get(backend.name)
        return entry.distribution if entry else None

    def conflicts(self) -> dict[str, list[str]]:
        """Return ``{scheme: [backend names]}`` for schemes claimed more than once."""
        self.load()
        with self._lock:
            claims: dict[str, list[str]] = {}
            for entry in self._entries.values():
                for scheme in entry.backend.schemes:
                    claims.setdefault(scheme, []).append(entry.backend.name)
            return {s: sorted(names) for s, names in claims.items() if len(names) > 1}

    def schemes(self) -> list[str]:
        """Return every scheme served, sorted."""
        return sorted({s for b in self.backends() for s in b.schemes})

    def backend_for(self, scheme: str) -> Backend:
        """Return the backend serving ``optuna+<scheme>://``.

        Raises:
            NoSuchBackendError: No backend serves the scheme; says what to install.
            DuplicateSchemeError: Two backends claim it; names both.
            BackendUnavailableError: The plugin that would serve it failed to load.
        """
        self.load()
        with self._lock:
            claimants = [e for e in self._entries.values() if scheme in e.backend.schemes]
        if len(claimants) == 1:
            return claimants[0].backend
        if claimants:
            raise self._conflict_error(scheme)
        raise self._missing_error(scheme)

    def _conflict_error(self, scheme: str) -> DuplicateSchemeError:
        claimants = [e for e in self._entries.values() if scheme in e.backend.schemes]
        who = " and ".join(_who(e) for e in claimants)
        return DuplicateSchemeError(
            f"scheme 'optuna+{scheme}://' is claimed by {who}; uninstall all but one, or "
            "register the one you want with get_registry().register_backend(..., replace=True)"
        )

    def _missing_error(self, scheme: str) -> PluginError | NoSuchBackendError:
        installed = ", ".join(f"optuna+{s}://" for s in self.schemes()) or "none"
        dist, extra = KNOWN_SCHEMES.get(scheme, (None, None))
        for broken in self._broken:
            if dist is not None and broken.distribution == dist:
                return BackendUnavailableError(
                    f"the backend for 'optuna+{scheme}://' comes from {dist}, which failed to "
                    f"load: {broken.error}. Reinstall it: pip install --force-reinstall "
                    f'"optuna-storage-kit[{extra}]"'
                )
        hint = (
            f' Install it with: pip install "optuna-storage-kit[{extra}]"'
            if extra
            else " Install a plugin that provides it, or check the spelling."
        )
        broken_note = ""
        if self._broken:
            names = ", ".join(b.name for b in self._broken)
            broken_note = f" (plugins that failed to load: {names}; see `osk backends`)"
        return NoSuchBackendError(
            f"no installed backend serves 'optuna+{scheme}://'. Installed: {installed}."
            f"{hint}{broken_note}"
        )

    # -- CLI ---------------------------------------------------------------------------------
    def add_commands(self, cli: Any, warn: Callable[[str], None]) -> None:
        """Let every loaded plugin add subcommands to ``cli``; failures become warnings."""
        self.load()
        for plugin in self._pm.get_plugins():
            others = [p for p in self._pm.get_plugins() if p is not plugin]
            caller = self._pm.subset_hook_caller("register_commands", remove_plugins=others)
            try:
                caller(cli=cli)
            except Exception as err:
                name = self._pm.get_name(plugin)
                warn(f"plugin {name!r} could not add commands: {_one_line(err)}")


def _who(entry: _Entry) -> str:
    source = entry.distribution or f"plugin {entry.plugin!r}"
    return f"backend {entry.backend.name!r} ({source})"


def _one_line(err: BaseException) -> str:
    """``Type: message`` on one line (pluggy's messages span several)."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


_default: Registry | None = None
_default_lock = threading.Lock()


def get_registry() -> Registry:
    """Return the process-wide registry, fed by the installed plugins."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Registry()
        return _default


def _check_spec_version(backend: Backend, plugin: str) -> None:
    """Refuse a spec version outside the supported range; warn on a deprecated one."""
    version = backend.spec_version
    low, high = hookspecs.MIN_SPEC_VERSION, hookspecs.SPEC_VERSION
    if not isinstance(version, int) or isinstance(version, bool) or not low <= version <= high:
        newer = isinstance(version, int) and version > high
        fix = (
            "upgrade optuna-storage-kit"
            if newer
            else f"upgrade the plugin to a release built for spec {low} to {high}"
        )
        raise IncompatiblePluginError(
            f"backend {backend.name!r} from plugin {plugin!r} implements spec version "
            f"{version}, but this optuna-storage-kit implements spec versions {low} to {high}; "
            f"{fix}"
        )
    if version in hookspecs.DEPRECATED_SPEC_VERSIONS:
        warnings.warn(
            f"backend {backend.name!r} from plugin {plugin!r} implements spec version "
            f"{version}, which is deprecated; upgrade the plugin to spec {high}",
            DeprecationWarning,
            stacklevel=2,
        )
