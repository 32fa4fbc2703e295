"""Benchmarks (`make bench`): each prints its figures as JSON. Not part of the test suite."""
