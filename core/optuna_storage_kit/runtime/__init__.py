"""What runs when a storage is opened: the registry fed by entry points, URL parsing, option
resolution, :func:`~optuna_storage_kit.open_storage`, the serialization policy, the
:class:`~optuna_storage_kit.KitStorage` wrapper and the hook that teaches Optuna ``optuna+``
URLs. Internal: use the names the package top re-exports.
"""
