"""One router per resource: health, events (and their evidence), known plates, fleet."""
