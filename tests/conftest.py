"""Test-wide settings."""

import os

from hypothesis import settings

# The suite runs on shared 2-core machines: a per-example time limit would make property tests
# fail on load, not on wrong answers. The default profile is derandomised, so CI sees the same
# examples on every run; HYPOTHESIS_PROFILE=explore draws new ones.
settings.register_profile("ci", deadline=None, derandomize=True)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
