"""Speed and quality benchmarks; each prints key=value lines measured in one run."""
