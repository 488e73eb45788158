"""Signatures: the declarative detector format (schema) and the built-in library (library/*.toml)."""
