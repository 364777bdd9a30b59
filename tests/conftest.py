"""Test-wide settings."""

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# The suite runs on shared 2-core machines: a per-example time limit would make property tests
# fail on load, not on wrong answers. The default profile is derandomised, so CI sees the same
# examples on every run; HYPOTHESIS_PROFILE=explore draws new ones.
settings.register_profile("ci", deadline=None, derandomize=True)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Parsed inputs are cached per session, never in the user's cache folder (subprocesses inherit it).
_CACHE = tempfile.TemporaryDirectory(prefix="farmland-test-cache-")
os.environ["FARMLAND_CACHE_DIR"] = _CACHE.name
os.environ.pop("FARMLAND_NO_CACHE", None)
# The suite's workers already fill the cores: a forked helper per run would only compete with
# them. tests/test_parallel.py runs the forked path itself and checks it against this one.
os.environ["FARMLAND_JOBS"] = "1"



SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "liaocheng"


@pytest.fixture(scope="session")
def sample_assessed(tmp_path_factory):
    """``farmland assess`` of the bundled sample, run once per session: (output folder, CLI output)."""
    from click.testing import CliRunner

    from farmland.cli import main

    out = tmp_path_factory.mktemp("assess") / "liaocheng"
    result = CliRunner().invoke(main, ["-q", "assess", str(SAMPLE), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return out, result.output


@pytest.fixture(scope="session")
def generated_workspace(tmp_path_factory):
    """One generated sample workspace (200 parcels, seed 0) per session; copy it before changing it."""
    from farmland.sample import generate_sample

    return generate_sample(tmp_path_factory.mktemp("generated") / "ws", parcels=200, seed=0)
