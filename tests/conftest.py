"""Test-wide settings."""

from hypothesis import settings

# The suite runs on shared 2-core machines: a per-example time limit would make property tests
# fail on load, not on wrong answers. Example counts are set per test.
settings.register_profile("farmland", deadline=None)
settings.load_profile("farmland")
