"""Append-only file journal backend for optuna-storage-kit.

Work in progress: this package registers no backend yet, so it claims no URL scheme."""

__version__ = "0.1.0"
