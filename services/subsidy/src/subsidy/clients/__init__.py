"""Typed clients for the services subsidy calls."""
