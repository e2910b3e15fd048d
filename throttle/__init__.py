"""Throttling of failed webhook/API authentication per client address, kept in the database so that every
worker on every host counts the same failures (no cache server needed)."""
