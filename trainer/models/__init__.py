"""The references' captioning and storytelling models (registry.MODELS)."""
