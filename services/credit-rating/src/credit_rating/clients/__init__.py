"""Typed clients for the services credit-rating calls."""
