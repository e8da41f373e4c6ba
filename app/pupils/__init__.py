"""Pupils: add by hand, read, edit, list with filters, sorts and cursor pagination."""
