"""Mechanisms every backend shares, public for backend authors.

* :mod:`~optuna_storage_kit.toolkit.lifecycle`: write buffered writes out at interpreter exit,
  before ``fork`` and after garbage collection (deferred).
* :mod:`~optuna_storage_kit.toolkit.write_behind`: the rule for buffering a running trial's
  writes, its two options and the claims they imply.
* :mod:`~optuna_storage_kit.toolkit.heartbeat`: RDBStorage's heartbeat settings
  (:class:`~optuna_storage_kit.HeartbeatSettings`).
* :mod:`~optuna_storage_kit.toolkit.files`: the path a file URL names
  (``optuna+<scheme>:///path``), with one set of error messages.
* :mod:`~optuna_storage_kit.toolkit.workloads`: the standard workload that ``osk bench``,
  ``osk demo``, ``osk certify`` and the benchmarks measure.
* :mod:`~optuna_storage_kit.toolkit.trials`: trial records for a cache: the finished states,
  a fresh trial, and copies cheaper than ``copy.copy``/``copy.deepcopy``.
* :mod:`~optuna_storage_kit.toolkit.distributions`: distribution JSON converted once per
  distinct distribution.
* :mod:`~optuna_storage_kit.toolkit.exports`: a package's public names imported on first use,
  so that the registry's import of a backend's package to read its plugin module stays cheap.
* :mod:`~optuna_storage_kit.toolkit.rdb_schema`: Optuna's RDB schema for backends that use
  RDBStorage's tables: the version check (alembic head) and the value encodings.
* :mod:`~optuna_storage_kit.toolkit.breakdown`: for benchmarks, where a trial's time goes,
  layer by layer (Optuna, the kit, the backend's Python, its compiled core).

Backend authors: see "Toolkit for backend authors" in the docs (docs/reference/toolkit.md).
"""
