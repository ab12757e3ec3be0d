"""End-to-end tests use the session-wide ``platform`` fixture of tests/conftest.py."""
