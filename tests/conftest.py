"""Cross-service tests: the real processes (e2e/) and the deployment files (deploy/)."""
