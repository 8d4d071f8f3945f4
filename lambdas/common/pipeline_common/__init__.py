"""Shared library of the seed pipeline, copied into every function's zip. It must not import `harness`."""
