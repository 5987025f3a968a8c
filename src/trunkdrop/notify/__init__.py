"""Telling everyone: an outbox of events for webhooks and customer messages."""
