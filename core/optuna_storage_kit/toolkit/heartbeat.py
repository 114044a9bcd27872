"""RDBStorage's heartbeat settings, for a backend's storage to inherit."""

from __future__ import annotations

from collections.abc import Callable

import optuna
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import FrozenTrial

__all__ = ["HeartbeatSettings"]

StaleTrialCallback = Callable[[optuna.Study, FrozenTrial], None]


class HeartbeatSettings(BaseHeartbeat):
    """The heartbeat options a backend receives, and the getters Optuna calls, in one place.

    A storage inherits it, stores the options it was opened with in :attr:`heartbeat_interval`,
    :attr:`grace_period` and :attr:`heartbeat_stale_trial_callback`, and implements
    ``record_heartbeat`` and ``_get_stale_trial_ids`` using :meth:`stale_after`.
    """

    heartbeat_interval: int | None = None
    grace_period: int | None = None
    heartbeat_stale_trial_callback: StaleTrialCallback | None = None

    def stale_after(self) -> int:
        """Seconds without a heartbeat after which a RUNNING trial is stale: ``grace_period``,
        or twice ``heartbeat_interval`` (RDBStorage's rule).

        Raises:
            RuntimeError: Heartbeats are disabled (no ``heartbeat_interval``).
        """
        if self.heartbeat_interval is None:
            raise RuntimeError("heartbeats are disabled: open the storage with heartbeat_interval")
        return self.grace_period or 2 * self.heartbeat_interval

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> StaleTrialCallback | None:
        return self.heartbeat_stale_trial_callback

    def get_failed_trial_callback(self) -> StaleTrialCallback | None:
        # Optuna deprecates this name; answer it without the deprecation warning's noise.
        return self.heartbeat_stale_trial_callback
