"""Reading the audit log through the API."""
