"""The references' captioning and storytelling models (registry.MODEL_NAMES)."""
