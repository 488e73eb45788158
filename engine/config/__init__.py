"""Configuration: the project file (mapping, sources, validation policy)."""
