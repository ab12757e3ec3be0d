"""Named applications errors, each with its HTTP status."""
