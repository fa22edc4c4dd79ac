"""Runs inside the datasite server process only: the app, syft fixes, audit hooks, /site routes."""
