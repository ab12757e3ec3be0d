"""Named subsidy errors, each with its HTTP status."""
