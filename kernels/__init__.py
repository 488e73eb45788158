"""basketguard.kernels: Numba kernels over NumPy arrays.

Pure functions: no I/O, no pyarrow, no logging. Each public wrapper validates
shapes and dtypes, allocates outputs and calls a private ``@njit`` loop.
"""
