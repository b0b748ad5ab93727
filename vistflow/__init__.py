"""vistflow: captioning and visual storytelling pipelines on TFX, Beam and Airflow."""

__version__ = "0.1.0"
