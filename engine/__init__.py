"""basketguard.engine: sources, mapping, validation, histories, reports and the CLI.

Everything that touches the outside world lives here; the Numba kernels in
``basketguard.kernels`` only see NumPy arrays.
"""

__version__ = "0.1.0"
