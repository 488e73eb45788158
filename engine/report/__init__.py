"""Reports: renderings of result documents (text for terminals, JSON for machines)."""
