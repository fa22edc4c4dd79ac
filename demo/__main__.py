"""Run the demo: ``python -m demo [--keep] [--out DIR]``."""

from demo.run import main

main()
