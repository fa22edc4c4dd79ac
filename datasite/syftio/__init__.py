"""The hospital side's one boundary with syft 0.9.5. Nothing outside this package imports
syft: ``server`` builds and runs the datasite process, ``fixes`` repairs measured 0.9.5
defects inside it, ``client`` is what admin tools do over HTTP."""
