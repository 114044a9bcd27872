"""Backends shipped with the core; each registers through the same entry point group as a third
party's (``[project.entry-points.optuna_storage_kit]`` in the core's ``pyproject.toml``)."""
