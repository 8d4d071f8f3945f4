"""Repository-wide pytest settings. The harness's own pytest plugin is registered by entry point
(`pytest11`), so user projects get the same fixtures and scenario collection as this repo."""

from __future__ import annotations

import os

from hypothesis import Phase, settings

# CI machines are small and shared: no per-example deadline, and print the reproduction blob.
settings.register_profile("ci", deadline=None, print_blob=True)
# Long runs of the property tests (tests/properties): `pytest tests/properties --hypothesis-profile=soak`
# (or HYPOTHESIS_PROFILE=soak) draws 50x the default examples, each stateful run up to 200 steps.
settings.register_profile("soak", deadline=None, print_blob=True, max_examples=5_000, stateful_step_count=200)
# The property runs on planted mutants (tests/properties/test_property_mutants.py): shrink the failure, but
# skip the explain phase (slow, tracing every line) and keep no example database.
settings.register_profile("mutation", deadline=None, database=None, print_blob=True,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))
