"""The synthetic shopper simulator: catalog, life events, population, and the run that writes lines."""
