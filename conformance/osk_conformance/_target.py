"""The backend under test: a URL (template) or a factory, with its declared facts.

A :class:`Target` opens a store for a directory. Opening the same directory again must reach
the same store (the multi-process and durability tests rely on it); a new directory gives a
fresh, empty store unless the target is *shared* (a server URL without a placeholder).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import os
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from optuna.storages import BaseStorage

import optuna_storage_kit as osk
from optuna_storage_kit.tools.locations import REFERENCE_URL

__all__ = ["REFERENCE_URL", "Target", "factory_from_url", "load_factory", "open_spec"]

Factory = Callable[..., BaseStorage]


@dataclasses.dataclass(frozen=True)
class Target:
    """A backend under test.

    Args:
        spec: ``"url:<url>"`` or ``"factory:<module>:<callable>"``; rebuilt in child processes
            with :meth:`from_spec`.
        name: The backend's name (its ``Backend.name`` or ``factory.name``).
        version: The backend's version.
        capabilities: What the backend claims.
        thresholds: The performance limits it ships (see the kit's README for the names).
        shared: Every directory reaches the same store, so no test can count on an empty one.
        visibility_delay_s: Seconds a running trial's writes may stay invisible to other
            processes, when the storage does not say (``KitStorage.visibility_delay_s`` does):
            a factory's ``visibility_delay_s`` attribute, else 0.
        api: ``"sync"``, or ``"aio"`` to drive every storage call through ``storage.aio``
            (the API, model and serialization tests of backends claiming ``async_api``).
    """

    spec: str
    name: str
    version: str
    capabilities: osk.Capabilities
    thresholds: Mapping[str, float]
    shared: bool = False
    visibility_delay_s: float = 0.0
    api: str = "sync"

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_spec(cls, spec: str) -> Target:
        """Build a target from ``"url:..."`` or ``"factory:module:callable"``."""
        kind, _, source = spec.partition(":")
        if kind == "url":
            return cls.from_url(source)
        if kind == "factory":
            return cls.from_factory(source)
        raise ValueError(f"bad target spec {spec!r}: use 'url:<url>' or 'factory:<mod>:<fn>'")

    @classmethod
    def from_url(cls, url: str) -> Target:
        """A target for a storage URL or URL template (``{dir}``/``{name}`` placeholders).

        Options in the URL's query (``optuna+sqlite:///s.db?write_behind=false``) are part of
        what is certified: the claims are those the opened storage reports for them
        (``KitStorage.capabilities``, from ``Backend.capabilities_for``).

        Raises:
            optuna_storage_kit.StorageKitError: The URL does not parse, no backend serves it,
                or an option is invalid.
        """
        template = url_template(url)
        parsed = osk.StorageURL(template.replace("{dir}", "/d").replace("{name}", "n"))
        backend = osk.get_registry().backend_for(parsed.scheme)
        shared = "{dir}" not in template and "{name}" not in template
        return cls(
            spec=f"url:{url}",
            name=backend.name,
            version=backend.version,
            capabilities=_claims(template) if parsed.query else backend.capabilities,
            # A backend's thresholds are its default options' limits (counts and ratios
            # change with options such as write_behind=false): a variant is held to none.
            thresholds={} if parsed.query else dict(backend.thresholds),
            shared=shared,
        )

    @classmethod
    def from_factory(cls, path: str) -> Target:
        """A target for a factory given as ``module:callable``, or ``module:callable?opt=v``.

        Options after ``?`` are passed to the factory on every call (converted with the option
        types of the registered backend named ``factory.name``), and the claims are those the
        storage it returns reports for them (``KitStorage.capabilities``).
        """
        factory = load_factory(path)
        capabilities = getattr(factory, "capabilities", osk.Capabilities())
        if not isinstance(capabilities, osk.Capabilities):
            raise TypeError(
                f"{path}.capabilities must be an optuna_storage_kit.Capabilities, "
                f"not {type(capabilities).__name__}"
            )
        if "?" in path:
            capabilities = _factory_claims(path, capabilities)
        return cls(
            spec=f"factory:{path}",
            name=str(getattr(factory, "name", path.partition("?")[0].rpartition(":")[2])),
            version=str(getattr(factory, "version", "unknown")),
            capabilities=capabilities,
            thresholds={} if "?" in path else dict(getattr(factory, "thresholds", {})),
            shared=bool(getattr(factory, "shared", False)),
            visibility_delay_s=float(getattr(factory, "visibility_delay_s", 0.0)),
        )

    @classmethod
    def reference(cls) -> Target:
        """The reference backend, ``optuna+memory://``."""
        return cls.from_url(REFERENCE_URL)

    # -- use ---------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.spec.partition(":")[0]

    @property
    def source(self) -> str:
        """The URL (masked) or ``module:callable``."""
        source = self.spec.partition(":")[2]
        return osk.mask_url(source) if self.kind == "url" else source

    @property
    def label(self) -> str:
        """The backend's name, its options if any (``journal?lock=open``) and ``[aio]``."""
        options = self.spec.partition("?")[2]
        label = f"{self.name}?{options}" if options else self.name
        return label if self.api == "sync" else f"{label}[{self.api}]"

    def via_async(self) -> Target:
        """This target with every storage call made through ``storage.aio``."""
        return dataclasses.replace(self, api="aio")

    def has(self, capability: str) -> bool:
        return bool(getattr(self.capabilities, capability))

    def open(self, directory: str | os.PathLike[str], **options: Any) -> BaseStorage:
        """Open the store kept under ``directory`` (the same one again for the same directory)."""
        storage = open_spec(self.spec, directory, **options)
        if self.api == "aio":
            from osk_conformance._async_driver import AsyncDriven

            return AsyncDriven(storage)
        return storage


def open_spec(spec: str, directory: str | os.PathLike[str], **options: Any) -> BaseStorage:
    """Open the store of ``directory`` for a target's ``spec``, as child processes do."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    kind, _, source = spec.partition(":")
    if kind == "factory":
        factory = load_factory(source)
        return factory(str(directory), **factory_options(factory, source), **options)
    return osk.open_storage(render(url_template(source), directory), **options)


def factory_options(factory: Factory, path: str) -> dict[str, Any]:
    """The options after ``?`` in a factory's path, typed by the backend of ``factory.name``."""
    query = path.partition("?")[2]
    if not query:
        return {}
    raw = dict(urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True))
    named = [b for b in osk.get_registry().backends() if b.name == getattr(factory, "name", "")]
    declared = {o.name: o for o in named[0].all_options} if named else {}
    return {k: declared[k].parse(v) if k in declared else v for k, v in raw.items()}


def _factory_claims(path: str, declared: osk.Capabilities) -> osk.Capabilities:
    with tempfile.TemporaryDirectory(prefix="osk-claims-") as directory:
        storage = open_spec(f"factory:{path}", directory)
        try:
            claimed = getattr(storage, "capabilities", declared)
            return claimed if isinstance(claimed, osk.Capabilities) else declared
        finally:
            _close(storage)


def _claims(template: str) -> osk.Capabilities:
    """What the backend claims for the options of ``template``, read from an opened storage."""
    with tempfile.TemporaryDirectory(prefix="osk-claims-") as directory:
        storage = osk.open_storage(render(template, Path(directory)))
        try:
            return storage.capabilities
        finally:
            _close(storage)


def _close(storage: BaseStorage) -> None:
    close = getattr(storage, "close", None)
    if callable(close):
        close()


FACTORY_GROUP = "osk_conformance.factories"
"""Entry point group where a backend names its certification factory (name = backend name)."""


def installed_targets() -> dict[str, Target | str]:
    """A target for every installed backend, or why there is none (``certify --all-installed``).

    In order of preference: the factory a backend names in the ``osk_conformance.factories``
    entry point group; the URL in ``OSK_CERTIFY_URL_<NAME>``; ``optuna+memory://`` for the
    memory backend; ``optuna+<scheme>:///{dir}/store`` for a backend that is not multi_host.
    """
    factories = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=FACTORY_GROUP)}
    found: dict[str, Target | str] = {}
    for backend in osk.get_registry().backends():
        variable = "OSK_CERTIFY_URL_" + backend.name.upper().replace("-", "_")
        if backend.name in factories:
            found[backend.name] = Target.from_factory(factories[backend.name])
        elif os.environ.get(variable):
            found[backend.name] = Target.from_url(os.environ[variable])
        elif "memory" in backend.schemes:
            found[backend.name] = Target.from_url(REFERENCE_URL)
        elif not backend.capabilities.multi_host:
            found[backend.name] = Target.from_url(f"optuna+{backend.schemes[0]}:///{{dir}}/store")
        else:
            found[backend.name] = (
                f"a server backend needs a URL: set {variable} or name a factory in the "
                f"{FACTORY_GROUP!r} entry point group"
            )
    return found


def url_template(url: str) -> str:
    """Return the template the kit opens for ``url``.

    ``{dir}`` and ``{name}`` are kept. Without them, ``optuna+memory://`` becomes
    ``optuna+memory://{name}`` (a named store per directory), and a file URL (no host, a path)
    keeps its file name under ``{dir}``; any other URL is a shared store opened as it is. A
    query (the backend's options) is kept as it is.
    """
    base, sep, query = url.partition("?")
    if "{dir}" in base or "{name}" in base:
        return url
    parsed = osk.StorageURL(base)
    if parsed.scheme == "memory" and not parsed.host:
        return f"optuna+memory://{{name}}{sep}{query}"
    if not parsed.host and parsed.database:
        return f"optuna+{parsed.scheme}:///{{dir}}/{Path(parsed.database).name}{sep}{query}"
    return url


def render(template: str, directory: Path) -> str:
    """Fill ``{dir}`` (absolute path, with its leading ``/``) and ``{name}`` (a token unique
    to the directory, letters and digits)."""
    absolute = directory.resolve()
    token = "osk" + hashlib.sha1(str(absolute).encode()).hexdigest()[:16]
    return template.replace("{dir}", str(absolute)).replace("{name}", token)


def load_factory(path: str) -> Factory:
    """Import ``module:callable`` (``module:obj.attr`` works too)."""
    module_name, sep, attr = path.partition("?")[0].partition(":")
    if not sep or not attr:
        raise ValueError(f"factory {path!r} must be given as 'module:callable'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"factory {path!r} is not callable")
    return obj  # type: ignore[no-any-return]


def factory_from_url(
    template: str,
    *,
    capabilities: osk.Capabilities | None = None,
    thresholds: Mapping[str, float] | None = None,
    name: str | None = None,
    version: str | None = None,
) -> Factory:
    """Make a conformance factory from a URL template, for backend authors.

    ``{dir}`` in ``template`` becomes the store's absolute directory (``/tmp/...``, so
    ``optuna+sqlite:///{dir}/study.db`` is ``optuna+sqlite:////tmp/.../study.db``, an absolute
    path) and ``{name}`` a token unique to the directory (e.g. a database name). Capabilities,
    thresholds, name and version default to those of the backend registered for the URL's
    scheme.

    Example::

        certify_factory = factory_from_url("optuna+mydb:///{dir}/store.mydb")
    """
    base = Target.from_url(template)

    def factory(directory: str, **options: Any) -> BaseStorage:
        return osk.open_storage(render(template, Path(directory)), **options)

    factory.capabilities = capabilities or base.capabilities  # type: ignore[attr-defined]
    factory.thresholds = dict(thresholds or base.thresholds)  # type: ignore[attr-defined]
    factory.name = name or base.name  # type: ignore[attr-defined]
    factory.version = version or base.version  # type: ignore[attr-defined]
    factory.shared = base.shared  # type: ignore[attr-defined]
    return factory
