"""Domain events: every state change is one event, recorded once in its transaction."""
