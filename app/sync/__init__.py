"""Sync jobs: submission, status, review and apply (API side) and their execution (worker side)."""
