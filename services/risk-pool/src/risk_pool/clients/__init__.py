"""Typed clients for the services risk-pool calls."""
