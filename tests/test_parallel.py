"""The second core (farmland.parallel): a forked child gives the result the same process would."""

import hashlib
import os
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from farmland.errors import LayerError
from farmland.parallel import JOBS_ENV, ChildFailed, RemoteTraceback, alongside, fork_usable



def _can_fork() -> bool:
    with pytest.MonkeyPatch.context() as patch:  # whatever FARMLAND_JOBS and threads the suite runs with
        patch.delenv(JOBS_ENV, raising=False)
        patch.setattr("farmland.parallel._single_threaded", lambda: True)
        return fork_usable()


forks = pytest.mark.skipif(not _can_fork(), reason="this machine runs everything in one process")


@pytest.fixture(autouse=True)
def _second_core(monkeypatch):
    monkeypatch.delenv(JOBS_ENV, raising=False)


@pytest.fixture
def forking(monkeypatch):
    """Fork even if an earlier test of this worker left threads behind (a Dask cluster's do):
    these tests are about the child, not about when to start one."""
    monkeypatch.setattr("farmland.parallel._single_threaded", lambda: True)


def _pid_and(value):
    return os.getpid(), value


def _fail(message):
    raise LayerError(message)


class _Unrebuildable(Exception):
    def __init__(self, first, second):  # pickling keeps one argument: rebuilding it fails
        super().__init__(f"{first} {second}")


def _fail_unrebuildable():
    raise _Unrebuildable("DLTB", "broken")


def _unpicklable_result():
    return threading.Lock()


def _die():
    os._exit(3)


def _sleep_then_touch(path):
    time.sleep(30)
    Path(path).write_text("late")


@forks
def test_the_piece_runs_in_a_child_while_the_block_runs_here(forking):
    with alongside(_pid_and, [1, 2]) as job:
        here = os.getpid()
        pid, value = job.result()
    assert job.forked
    assert pid != here
    assert value == [1, 2]


def test_one_process_when_asked(monkeypatch):
    monkeypatch.setenv(JOBS_ENV, "1")
    seen = []
    with alongside(seen.append, "ran") as job:
        assert seen == ["ran"]  # before the block, in this process
    assert not job.forked
    assert job.result() is None


def test_no_fork_without_memory_to_spare(monkeypatch):
    import farmland.parallel as parallel

    monkeypatch.setattr(parallel, "_memory_allows", lambda: False)
    with alongside(_pid_and, 1) as job:
        pass
    assert not job.forked
    assert job.result() == (os.getpid(), 1)


@pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="Linux only")
def test_this_small_test_process_has_memory_to_spare():
    from farmland.parallel import _memory_allows

    assert _memory_allows()


def test_no_fork_with_another_thread_running():
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert not fork_usable()
        with alongside(_pid_and, 1) as job:
            pass
        assert job.result() == (os.getpid(), 1)
    finally:
        stop.set()
        worker.join()


@forks
def test_the_childs_error_is_raised_here_with_its_class_and_traceback(forking):
    with pytest.raises(LayerError, match="DLTB_2020: BSM repeated") as caught:
        with alongside(_fail, "DLTB_2020: BSM repeated"):
            pass
    assert isinstance(caught.value.__cause__, RemoteTraceback)
    assert "_fail" in str(caught.value.__cause__)


@forks
def test_an_error_that_cannot_travel_comes_back_as_text(forking):
    with pytest.raises(ChildFailed, match="DLTB broken") as caught:
        with alongside(_fail_unrebuildable):
            pass
    assert "_Unrebuildable" in str(caught.value.__cause__)


@forks
def test_a_result_that_cannot_travel_is_an_error_saying_why(forking):
    with pytest.raises(TypeError, match="lock"):
        with alongside(_unpicklable_result):
            pass


@forks
def test_a_child_that_dies_is_an_error_naming_the_way_out(forking):
    with pytest.raises(ChildFailed, match="exit code 3.*FARMLAND_JOBS=1"):
        with alongside(_die):
            pass


@forks
def test_a_failing_block_stops_the_child_first(tmp_path, forking):
    late = tmp_path / "late.txt"
    started = time.monotonic()
    with pytest.raises(KeyError):
        with alongside(_sleep_then_touch, late) as job:
            raise KeyError("block")
    assert time.monotonic() - started < 20
    assert not job._process.is_alive()
    assert not late.exists()


# -- the pipeline: forked and one-process runs agree ---------------------------------------------


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def forked_run(generated_workspace):
    """``assess`` of the generated workspace with the second core (shared by the tests below)."""
    from farmland.pipeline import assess

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(JOBS_ENV, raising=False)
        patch.setattr("farmland.parallel._single_threaded", lambda: True)
        return assess(generated_workspace)


@forks
def test_assess_and_its_outputs_are_the_same_in_one_process(generated_workspace, forked_run, tmp_path,
                                                            monkeypatch, forking):
    from farmland.pipeline import assess, write_assessment

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764000000")
    monkeypatch.setenv(JOBS_ENV, "1")
    one = assess(generated_workspace)
    write_assessment(one, tmp_path / "one", pdf=False)
    monkeypatch.delenv(JOBS_ENV)
    write_assessment(forked_run, tmp_path / "forked", pdf=False)
    pd.testing.assert_frame_equal(one.metrics.table, forked_run.metrics.table, check_exact=True)
    pd.testing.assert_frame_equal(one.audit.findings, forked_run.audit.findings, check_exact=True)
    for (name, mine), (_, theirs) in zip(one.results(), forked_run.results(), strict=True):
        pd.testing.assert_frame_equal(mine.table, theirs.table, check_exact=True, obj=name)
    assert one.report.findings == forked_run.report.findings
    assert one.store.files_read() == forked_run.store.files_read()
    assert _tree(tmp_path / "one") == _tree(tmp_path / "forked")


def _read_in_child(store, layer, year):
    store.layer(layer, year, columns=["BSM"], geometry=False)
    return store.record()


@forks
def test_files_a_child_read_reach_the_manifests_list(generated_workspace, forking):
    from farmland.load import LayerStore
    from farmland.workspace import Workspace

    store = LayerStore(Workspace.load(generated_workspace), cache=None)
    year = store.ws.period.end
    with alongside(_read_in_child, store, "DLTB", year) as job:
        assert store.files_read() == {}  # the child's reads stay in the child ...
        store.add_record(job.result())
    read = store.files_read()  # ... until handed over, hashed
    assert set(store.ws.paths("DLTB", year)) <= set(read)
    assert all(len(digest) == 64 for digest in read.values())


@forks
def test_a_failure_beside_the_pages_leaves_no_output(forked_run, tmp_path, monkeypatch, forking):
    import farmland.pipeline as pipeline
    from farmland.errors import OutputError

    def broken(assessment, folder):
        (folder / "metrics.csv").write_text("half")
        raise OutputError("metrics.xlsx: the disk is full")

    monkeypatch.setattr(pipeline, "_write_tables", broken)  # the forked child inherits it
    with pytest.raises(OutputError, match="the disk is full"):
        pipeline.write_assessment(forked_run, tmp_path / "out", pdf=False)
    assert list(tmp_path.iterdir()) == []


def test_apart_runs_in_a_child_even_on_one_cpu(forking, monkeypatch):
    """``apart`` forks for the memory, not for a second core (assess --by-county)."""
    from farmland.parallel import apart

    if not sys.platform.startswith("linux"):
        pytest.skip("forks only on Linux")
    monkeypatch.setattr("farmland.parallel._cpus", lambda: 1)
    pid, value = apart(_pid_and, {"a": 1})
    assert pid != os.getpid() and value == {"a": 1}
    with pytest.raises(LayerError, match="broken DLTB"):
        apart(_fail, "broken DLTB")


def test_apart_runs_here_when_asked(monkeypatch):
    from farmland.parallel import apart

    monkeypatch.setenv(JOBS_ENV, "1")
    assert apart(_pid_and, 2) == (os.getpid(), 2)
