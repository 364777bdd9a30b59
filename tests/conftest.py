"""Test-wide settings."""

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
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


def made_once(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder filled by ``make(folder)`` once per test run, shared by every xdist worker.

    The suite's files are spread over workers (``--dist loadfile``), so a session fixture used by
    files on both workers would be made twice. Here the first worker to ask makes it, holding a
    lock, and the others wait for it and reuse it. Only for what the tests read and never change.
    Without xdist it is this process's own folder.
    """
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent  # the run's base folder, above each worker's own
    folder = root / name
    done = root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what another worker's failed attempt left
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def sample_assessed(tmp_path_factory):
    """``farmland assess`` of the bundled sample (PDFs printed: tests read them), run once per test
    run: (output folder, CLI output)."""

    def make(folder):
        from click.testing import CliRunner

        from farmland.cli import main

        result = CliRunner().invoke(main, ["-q", "assess", str(SAMPLE), "-o", str(folder / "liaocheng")])
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        (folder / "output.txt").write_text(result.output, encoding="utf-8")

    folder = made_once(tmp_path_factory, "assess", make)
    return folder / "liaocheng", (folder / "output.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def generated_workspace(tmp_path_factory):
    """One generated sample workspace (200 parcels, seed 0) per test run; copy it before changing it."""
    from farmland.sample import generate_sample

    return made_once(tmp_path_factory, "generated",
                     lambda folder: generate_sample(folder / "ws", parcels=200, seed=0)) / "ws"
