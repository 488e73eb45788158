"""Re-identification: attribute classes, population uniqueness, purchase unicity, k^m-anonymity, and assess."""
