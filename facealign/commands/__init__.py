"""Subcommands of the ``facealign`` console command (see :mod:`facealign.cli`)."""
