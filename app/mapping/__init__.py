"""MIS registration groups and their mapping onto classes (with suggestions across a rollover)."""
