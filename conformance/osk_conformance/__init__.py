"""Conformance and performance kit for optuna-storage-kit backends.

A pytest plugin (``--osk-url``/``--osk-factory`` and fixtures), the suite it runs
(``osk_conformance.suite``), and ``osk certify``, which writes a certificate. See the README
for the factory contract and the third-party guide.
"""

from importlib.metadata import PackageNotFoundError, version

from osk_conformance._target import REFERENCE_URL, Target, factory_from_url, load_factory

try:
    __version__ = version("osk-conformance")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["REFERENCE_URL", "Target", "__version__", "factory_from_url", "load_factory"]
