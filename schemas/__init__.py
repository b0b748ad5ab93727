"""vistflow: schemas."""
