"""Conformance and performance kit for optuna-storage-kit backends.

Work in progress: this package registers no backend yet, so it claims no URL scheme."""

__version__ = "0.1.0"
