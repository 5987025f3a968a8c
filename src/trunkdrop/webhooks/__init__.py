"""Webhooks: endpoints parties register, and the relay that sends them the events they may see."""
