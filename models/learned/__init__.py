"""Learned detectors: LightGBM on per-customer concept, taxonomy and item features."""
