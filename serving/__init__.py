"""vistflow: serving."""
