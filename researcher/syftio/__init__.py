"""The researcher side's only contact with syft: login, datasets, the shipped function,
code requests and calls. Everything here turns syft errors into short reasons."""
