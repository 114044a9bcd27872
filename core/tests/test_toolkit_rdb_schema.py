"""The toolkit's view of Optuna's RDB schema: versions, the check's wording, value encodings."""

from __future__ import annotations

import math
import re

import optuna
import pytest

from optuna_storage_kit.toolkit import rdb_schema
from optuna_storage_kit.toolkit.rdb_schema import Versions


def test_revisions_are_what_alembic_reads() -> None:
    import os

    from alembic.script import ScriptDirectory
    from optuna.storages import _rdb

    script = ScriptDirectory(os.path.join(os.path.dirname(_rdb.__file__), "alembic"))
    assert rdb_schema.alembic_revisions() == (
        script.get_current_head(),
        frozenset(r.revision for r in script.walk_revisions()),
    )


def test_a_merge_revision_names_both_parents() -> None:
    merge = 'revision = "m"\ndown_revision: tuple[str, ...] = ("a", "b")\n'
    assert rdb_schema._revision_of(merge) == ("m", ("a", "b"))
    assert rdb_schema._revision_of('revision = "first"\ndown_revision = None\n') == ("first", ())
    assert rdb_schema._revision_of("x = 1\n") is None


def test_head_and_version_are_what_rdbstorage_writes() -> None:
    from optuna.storages._rdb.models import SCHEMA_VERSION

    head, known = rdb_schema.alembic_revisions()
    assert rdb_schema.alembic_head() == head and head in known
    assert rdb_schema.schema_version() == SCHEMA_VERSION
    assert re.fullmatch(r"v\d+\.\d+\.\d+\.[a-z]", head)
    assert "v3.0.0.d" in known  # an older revision Optuna upgrades from


def current() -> Versions:
    return Versions(rdb_schema.schema_version(), rdb_schema.alembic_head(), optuna.__version__)


def test_the_current_schema_passes() -> None:
    assert current().is_current() and not current().is_newer()
    assert rdb_schema.check(current(), store="s.db", upgrade_url="sqlite:///s.db") is None
    # RDBStorage does not read library_version to accept a store; nor do we.
    found = Versions(rdb_schema.schema_version(), rdb_schema.alembic_head(), None)
    assert rdb_schema.check(found, store="s.db", upgrade_url="sqlite:///s.db") is None


def test_an_older_schema_is_refused_with_the_upgrade_command() -> None:
    found = Versions(rdb_schema.schema_version(), "v3.0.0.d", "3.0.0")
    assert not found.is_current() and not found.is_newer()
    message = rdb_schema.check(found, store="/x/s.db", upgrade_url="sqlite:////x/s.db")
    assert message is not None and "\n" not in message
    assert message.startswith("/x/s.db holds Optuna's RDB schema schema version")
    assert "alembic revision v3.0.0.d, written by Optuna 3.0.0" in message
    assert f"it needs schema version {rdb_schema.schema_version()}" in message
    assert "run `optuna storage upgrade --storage sqlite:////x/s.db`" in message


@pytest.mark.parametrize(
    "found",
    [
        Versions(None, "v9.9.0.a"),  # an unknown revision
        Versions(10_000, None),  # a later schema version
        Versions(12, "v3.0.0.d", "99.0.0"),  # written by a later Optuna
    ],
    ids=["revision", "schema", "library"],
)
def test_a_newer_schema_says_upgrade_optuna(found: Versions) -> None:
    assert found.is_newer()
    message = rdb_schema.check(found, store="db", upgrade_url="postgresql://u:***@h/db")
    assert message is not None
    assert "written by a newer Optuna: upgrade Optuna (`pip install -U optuna`)" in message
    assert "storage upgrade" not in message


def test_a_store_without_version_rows_is_older() -> None:
    found = Versions(None, None)
    assert not found.is_current() and not found.is_newer()
    message = rdb_schema.check(found, store="db", upgrade_url="postgresql://h/db")
    assert message is not None and "schema version None, alembic revision None" in message


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (1.5, (1.5, "FINITE")),
        (-0.0, (-0.0, "FINITE")),
        (math.inf, (None, "INF_POS")),
        (-math.inf, (None, "INF_NEG")),
    ],
)
def test_values_encode_as_rdbstorage_stores_them(
    value: float, stored: tuple[float | None, str]
) -> None:
    assert rdb_schema.encode_value(value) == stored
    assert rdb_schema.encode_intermediate(value) == stored
    assert rdb_schema.decode_value(*stored) == value


def test_nan_is_an_intermediate_value_only_type() -> None:
    assert rdb_schema.encode_intermediate(math.nan) == (None, "NAN")
    assert math.isnan(rdb_schema.decode_value(None, "NAN"))


def _dev_of_installed() -> str:
    import optuna
    from packaging.version import Version

    return f"{Version(optuna.__version__).base_version}.dev0"


@pytest.mark.parametrize(
    ("stored", "later"),
    [
        ("99.0.0", True),
        (_dev_of_installed(), False),  # a pre-release of the installed release is older
        ("0.9", False),
        ("not a version", False),
        (None, False),
    ],
)
def test_only_a_later_optuna_release_is_newer(stored: str | None, later: bool) -> None:
    found = Versions(rdb_schema.schema_version(), rdb_schema.alembic_head(), stored)
    assert found.is_newer() is later
