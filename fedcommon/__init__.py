"""What the hospital side and the researcher side both need: roles, the asset schema, the
weight-exchange format and the base error. Never imports syft, datasite or researcher."""
