"""vistflow: trainer."""
