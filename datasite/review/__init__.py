"""What an admin sees before approving: hashes, risk report, taint walk, dry run, views."""
