"""Named risk-pool errors, each with its HTTP status."""
