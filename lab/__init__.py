"""Lab harness, not hospital software: launches and stops child sites for the demo, the
tests and the notebooks."""
