"""TensorFlow Datasets builders. Importing this package imports TensorFlow and registers `vist`."""

from vistflow.tfds.vist import Vist

__all__ = ["Vist"]
