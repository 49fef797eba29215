"""Command-line interface (``gnncc --help``)."""
