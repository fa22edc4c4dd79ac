"""The end-to-end federation demo (README command 1). It drives both sides through their
command-line tools and public APIs, exactly as the three roles would."""
