"""Study methods of the async core."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import asyncpg.exceptions as pgerr
import optuna
from optuna.storages._base import DEFAULT_STUDY_NAME_PREFIX
from optuna.study._frozen import FrozenStudy
from optuna.study._study_direction import StudyDirection

from osk_postgres import _rows, _sql
from osk_postgres._checks import text as _text

if TYPE_CHECKING:
    from osk_postgres._cache import Cache
    from osk_postgres._conn import Pool, Session

__all__ = ["StudiesMixin"]


class StudiesMixin:
    """Study methods of :class:`~osk_postgres._core.AsyncCore`."""

    cache: Cache
    pool: Pool

    async def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        name = study_name
        if name is not None:
            _text(name, "study name")
        if name is None:
            name = DEFAULT_STUDY_NAME_PREFIX + str(uuid.uuid4())
        names = _rows.direction_names(directions)

        async def op(s: Session, attempt: int) -> int:
            try:
                return int(await s.fetchval(_sql.CREATE_STUDY, name, names, write=True))
            except pgerr.UniqueViolationError:
                if attempt > 0:  # our first attempt may have committed before the loss
                    return int(await s.fetchval(_sql.STUDY_ID_BY_NAME, name))
                raise optuna.exceptions.DuplicatedStudyError(
                    f"Another study with name '{name}' already exists."
                ) from None

        study_id = await self.pool.run(op)
        self.cache.drop_study(study_id)
        self.cache.study(study_id).directions = [StudyDirection(d) for d in directions]
        return study_id

    async def delete_study(self, study_id: int) -> None:
        async def op(s: Session, attempt: int) -> None:
            async with s.transaction():
                for statement in _sql.DELETE_STUDY:
                    await s.execute(statement, study_id)
                gone = await s.fetchval(_sql.DELETE_STUDY_ROW, study_id)
            if gone is None and attempt == 0:
                raise KeyError(f"No study with study_id {study_id} exists.")

        try:
            await self.pool.run(op)
        finally:
            self.cache.drop_study(study_id)

    async def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        await self._set_study_attr(_sql.SET_STUDY_USER_ATTR, study_id, key, value)

    async def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        await self._set_study_attr(_sql.SET_STUDY_SYSTEM_ATTR, study_id, key, value)

    async def _set_study_attr(self, sql: str, study_id: int, key: str, value: Any) -> None:
        _text(key, "attribute key")

        async def op(s: Session, attempt: int) -> None:
            try:
                await s.execute(sql, study_id, key, json.dumps(value))
            except pgerr.ForeignKeyViolationError:
                raise KeyError(f"No study with study_id {study_id} exists.") from None

        await self.pool.run(op)

    async def get_study_id_from_name(self, study_name: str) -> int:
        found = await self._read(_sql.STUDY_ID_BY_NAME, study_name)
        if found is None:
            raise KeyError(f"No such study {study_name}.")
        return int(found)

    async def get_study_name_from_id(self, study_id: int) -> str:
        found = await self._read(_sql.STUDY_NAME_BY_ID, study_id)
        if found is None:
            raise KeyError(f"No study with study_id {study_id} exists.")
        return str(found)

    def cached_directions(self, study_id: int) -> list[StudyDirection] | None:
        with self.cache.lock:
            sc = self.cache.studies.get(study_id)
            return None if sc is None or sc.directions is None else list(sc.directions)

    async def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        cached = self.cached_directions(study_id)
        if cached is not None:
            return cached
        row = await self._read(_sql.STUDY_DIRECTIONS, study_id, row=True)
        if row is None:
            raise KeyError(f"No study with study_id {study_id} exists.")
        dirs = _rows.directions(row["directions"])
        self.cache.study(study_id).directions = dirs
        return list(dirs)

    async def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return await self._study_attrs(_sql.STUDY_USER_ATTRS, study_id)

    async def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return await self._study_attrs(_sql.STUDY_SYSTEM_ATTRS, study_id)

    async def _study_attrs(self, sql: str, study_id: int) -> dict[str, Any]:
        row = await self._read(sql, study_id, row=True)
        if row is None:
            raise KeyError(f"No study with study_id {study_id} exists.")
        return _rows.attrs_from_json(row["attrs"])

    async def get_all_studies(self) -> list[FrozenStudy]:
        rows = await self.pool.run(lambda s, a: s.fetch(_sql.ALL_STUDIES))
        return [
            FrozenStudy(
                study_name=r["study_name"],
                direction=None,
                directions=_rows.directions(r["directions"]),
                user_attrs=_rows.attrs_from_json(r["user_attrs"]),
                system_attrs=_rows.attrs_from_json(r["system_attrs"]),
                study_id=r["study_id"],
            )
            for r in rows
        ]

    async def _read(self, sql: str, *args: Any, row: bool = False) -> Any:
        if row:
            return await self.pool.run(lambda s, a: s.fetchrow(sql, *args))
        return await self.pool.run(lambda s, a: s.fetchval(sql, *args))
