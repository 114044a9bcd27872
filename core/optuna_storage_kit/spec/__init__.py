"""The plugin contract: what a backend package implements and declares.

* :mod:`~optuna_storage_kit.spec.hookspecs`: the hooks, documented as the contract.
* :class:`~optuna_storage_kit.Backend`, :class:`~optuna_storage_kit.Capabilities`,
  :class:`~optuna_storage_kit.Option`: the descriptor a backend registers.

Import these from the package top (``optuna_storage_kit.Backend``); the module paths inside this
folder may change.
"""
