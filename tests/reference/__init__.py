"""Plain-Python references of the kernels, written from their docstrings (not from their code)."""
