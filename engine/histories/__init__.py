"""Histories: ingest basket lines, build each customer's time-sorted purchases, cache, transactions, profile."""
