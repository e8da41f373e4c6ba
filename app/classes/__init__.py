"""Classes and class membership."""
