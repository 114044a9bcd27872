"""The ``osk`` command line and what its commands run (copy, bench, demo, dashboard, the backend
scaffold and its templates). Internal: the command line is the interface."""
