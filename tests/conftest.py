"""Test-wide settings."""

import os

from hypothesis import settings

# The suite runs on shared 2-core machines: a per-example time limit would make property tests
# fail on load, not on wrong answers. The default profile is derandomised, so CI sees the same
# examples on every run; HYPOTHESIS_PROFILE=explore draws new ones.
settings.register_profile("ci", deadline=None, derandomize=True)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def generated_workspace(tmp_path_factory):
    """One generated sample workspace (200 parcels, seed 0) per session; copy it before changing it."""
    from farmland.sample import generate_sample

    return generate_sample(tmp_path_factory.mktemp("generated") / "ws", parcels=200, seed=0)
