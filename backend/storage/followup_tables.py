"""Tables of content items, the follow-up outbox and engagement."""
