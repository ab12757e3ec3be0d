"""Named credit-rating errors, each with its HTTP status."""
