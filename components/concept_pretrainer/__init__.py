"""Concept pretraining (reference 001): the backbone learns the train split's own visual concepts."""
