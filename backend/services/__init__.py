"""Backend services: the one call an edge (bot, API, CLI) makes, in one transaction."""
