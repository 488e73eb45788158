"""Product concepts (``schema``) and the built-in concept files (``concepts/``)."""
