"""The datasite command line: one typer app, a module per command family."""
