"""Mechanisms every backend shares, public for backend authors.

* :mod:`~optuna_storage_kit.toolkit.lifecycle`: write buffered writes out at interpreter exit,
  before ``fork`` and after garbage collection (deferred).
* :mod:`~optuna_storage_kit.toolkit.heartbeat`: RDBStorage's heartbeat settings
  (:class:`~optuna_storage_kit.HeartbeatSettings`).
"""
