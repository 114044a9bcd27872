"""The native async API: :class:`AsyncPostgresStorage` for asyncio applications."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna_storage_kit import HEARTBEAT_OPTIONS, InvalidOptionError, StorageURL
from osk_postgres._config import OPTIONS, Settings
from osk_postgres._core import AsyncCore

__all__ = ["ASYNC_METHODS", "AsyncPostgresStorage", "settings_from"]

ASYNC_METHODS = frozenset(
    {
        "create_new_study",
        "delete_study",
        "set_study_user_attr",
        "set_study_system_attr",
        "get_study_id_from_name",
        "get_study_name_from_id",
        "get_study_directions",
        "get_study_user_attrs",
        "get_study_system_attrs",
        "get_all_studies",
        "create_new_trial",
        "set_trial_param",
        "get_trial_id_from_study_id_trial_number",
        "set_trial_state_values",
        "set_trial_intermediate_value",
        "set_trial_user_attr",
        "set_trial_system_attr",
        "get_trial",
        "get_all_trials",
        "record_heartbeat",
        "flush",
    }
)
"""The coroutine methods of :class:`AsyncPostgresStorage` and of ``PostgresStorage.aio``:
Optuna's ``BaseStorage`` methods with the same arguments and errors, plus ``flush``."""

_SCHEMES = ("postgresql", "postgres")


def settings_from(url: str | StorageURL, options: Mapping[str, Any]) -> Settings:
    """Validate a URL (query options allowed) and keyword options into :class:`Settings`."""
    parsed = StorageURL(url)
    if parsed.scheme not in _SCHEMES:
        raise InvalidOptionError(
            f"{parsed} is not a Postgres URL: write optuna+postgresql://user:pw@host:port/db"
        )
    declared = {o.name: o for o in (*OPTIONS, *HEARTBEAT_OPTIONS)}
    for name in (*parsed.query, *options):
        if name not in declared:
            raise InvalidOptionError(
                f"unknown option {name!r} for backend 'postgres'; valid options are: "
                f"{', '.join(sorted(declared))}"
            )
    resolved: dict[str, Any] = {}
    for name, option in declared.items():
        if name in options:
            resolved[name] = option.check(options[name])
        elif name in parsed.query:
            raw = parsed.query[name]
            resolved[name] = option.parse(raw if isinstance(raw, str) else raw[-1])
        else:
            resolved[name] = option.default
    old = resolved.pop("failed_trial_callback", None)
    resolved["heartbeat_stale_trial_callback"] = resolved["heartbeat_stale_trial_callback"] or old
    return Settings(parsed.without_query(), resolved)


class AsyncPostgresStorage:
    """Optuna's storage methods as coroutines, on the caller's event loop.

    Example::

        async with AsyncPostgresStorage("optuna+postgresql://u:pw@host/db") as storage:
            study_id = await storage.create_new_study([StudyDirection.MINIMIZE], "s")
            trial_id = await storage.create_new_trial(study_id)
            await storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])

    The methods (:data:`ASYNC_METHODS`) take the arguments and raise the errors of Optuna's
    ``BaseStorage``; values are stored as JSON without the kit's serialization check (use
    ``optuna_storage_kit.check_attr`` first if needed). Safe for many concurrent tasks of one
    loop; use it only from the loop that opened it. The same database may be used at the same
    time by synchronous storages, RDBStorage and other processes.
    """

    def __init__(self, url: str | StorageURL, **options: Any) -> None:
        self._core = AsyncCore(settings_from(url, options))
        self._open = False

    async def open(self) -> AsyncPostgresStorage:
        """Connect (and create Optuna's schema in an empty database)."""
        if not self._open:
            await self._core.start()
            self._open = True
        return self

    async def close(self) -> None:
        await self._core.close()
        self._open = False

    async def __aenter__(self) -> AsyncPostgresStorage:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def osk_counters(self) -> dict[str, int]:
        """Deterministic operation counts since open: statements, round trips, commits."""
        counters = self._core.pool.counters
        return {k: counters[k] for k in ("statements", "round_trips", "commits")}

    def __repr__(self) -> str:
        return f"<AsyncPostgresStorage {self._core.settings.masked!r}>"

    def __getattr__(self, name: str) -> Any:
        if name in ASYNC_METHODS:
            if not self.__dict__.get("_open"):
                raise RuntimeError("AsyncPostgresStorage is not open: await storage.open() first")
            return getattr(self._core, name)
        raise AttributeError(name)
