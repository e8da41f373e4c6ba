"""Webhooks: endpoints registered by a school, and the signed, retried delivery of outbox events to them."""
