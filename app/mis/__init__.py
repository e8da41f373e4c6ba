"""MIS connectors: fetch registration groups and pupils from Wonde or OneRoster 1.2."""
