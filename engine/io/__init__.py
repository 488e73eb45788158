"""Input and output: sources (files, DuckDB, PostgreSQL), filters, Arrow columns, id encoding, atomic output, write-back to database tables."""
