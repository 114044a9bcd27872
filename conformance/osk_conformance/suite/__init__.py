"""The conformance suite: one module per certificate category (``test_<category>.py``)."""
