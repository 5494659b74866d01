"""Subcommands of the ``facealign`` console command (see :mod:`commands.cli`)."""
