"""Input and output: sources (files, DuckDB), filters, Arrow columns, id encoding, atomic output."""
