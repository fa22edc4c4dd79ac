"""The site's hash-chained audit log: writing, export, fetching over HTTP."""
