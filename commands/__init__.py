"""The `vistflow` command line: every subcommand, a thin adapter over its job (commands sit on top;
nothing imports them)."""
