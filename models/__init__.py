"""basketguard.models: detectors and the synthetic shopper simulator."""
