"""The hospital side: run a syft 0.9.5 datasite, manage its users, ingest imaging data,
review code requests and keep the audit trail. Only ``datasite.syftio`` imports syft."""
