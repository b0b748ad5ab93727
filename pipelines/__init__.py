"""vistflow: pipelines."""
