"""The platform's front door."""
