"""The researcher side: connect to many datasites, submit training code, and coordinate
federated rounds. Only ``researcher.syftio`` imports syft."""
