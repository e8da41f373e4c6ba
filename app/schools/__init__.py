"""Schools (tenants), their MIS connection and API keys."""
