"""``python -m osk_conformance certify ...``."""

from osk_conformance._cli import main

main()
