"""Importing this module registers every job kind's handler with the runner."""

from app.sync import groups, preview  # noqa: F401
