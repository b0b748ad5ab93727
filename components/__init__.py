"""vistflow: components."""
