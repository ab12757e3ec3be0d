"""Typed clients for the services applications calls."""
