"""``python -m researcher`` runs the ``researcher`` command."""

from researcher.cli import app

app()
