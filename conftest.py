"""Repository-wide pytest settings. The harness's own pytest plugin is registered by entry point
(`pytest11`), so user projects get the same fixtures and scenario collection as this repo."""

from __future__ import annotations

import os

from hypothesis import settings

# CI machines are small and shared: no per-example deadline, and print the reproduction blob.
settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))
