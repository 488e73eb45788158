"""Detection: resolve detectors against a catalog and scan histories for sensitive inferences."""
