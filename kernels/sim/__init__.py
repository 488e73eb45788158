"""Kernels of the synthetic shopper simulator: sampling tables, customers, basket lines."""
