"""Demonstrations that run through the public API: `popbt demo toy`."""
