"""Mechanisms every backend shares, public for backend authors.

* :mod:`~optuna_storage_kit.toolkit.lifecycle`: write buffered writes out at interpreter exit,
  before ``fork`` and after garbage collection (deferred).
* :mod:`~optuna_storage_kit.toolkit.heartbeat`: RDBStorage's heartbeat settings
  (:class:`~optuna_storage_kit.HeartbeatSettings`).
* :mod:`~optuna_storage_kit.toolkit.files`: the path a file URL names
  (``optuna+<scheme>:///path``), with one set of error messages.
* :mod:`~optuna_storage_kit.toolkit.workloads`: the standard workload that ``osk bench``,
  ``osk demo``, ``osk certify`` and the benchmarks measure.
"""
