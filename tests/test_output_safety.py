"""Issue 9, outputs: no command can destroy its inputs, and nothing half-written is ever left.

Each case runs the CLI (click's CliRunner, or a real process where a signal must be sent) on a copy
of the session's generated workspace, and checks the exit code, the message, that the inputs are
byte-identical afterwards and that no output, partial folder or lock file is left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from farmland.output import write_table
from test_bad_inputs import invoke, tree_digest


@pytest.fixture
def ws(generated_workspace, tmp_path) -> Path:
    return shutil.copytree(generated_workspace, tmp_path / "ws")


def refused(result, *tokens):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    for token in tokens:
        assert token in result.output, result.output


def leftovers(folder: Path) -> list[str]:
    """Hidden temporaries or locks in ``folder`` (a partial output, a lock file)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def no_computation(monkeypatch):
    """Fail the test if the assessment is computed: refusals must come before the long part."""
    import farmland.pipeline as pipeline

    def computed(*args, **kwargs):
        raise AssertionError("the assessment was computed before the output was refused")

    monkeypatch.setattr(pipeline, "assess", computed)
    monkeypatch.setattr(pipeline, "compute_metrics", computed)


@pytest.mark.parametrize("target, relation", [
    ("{ws}", "is the input"),
    ("{parent}", "contains the input"),
    ("{ws}/out", "lies inside the input"),
    ("{ws}/counties", "contains the input"),
])
def test_assess_never_writes_over_the_workspace(ws, no_computation, target, relation):
    before = tree_digest(ws.parent)
    out = target.format(ws=ws, parent=ws.parent)
    result = invoke("assess", ws, "-o", out, "--overwrite")
    refused(result, relation, "never writes over its inputs")
    assert tree_digest(ws.parent) == before


def test_metrics_output_onto_an_input_table_is_refused(ws, no_computation):
    before = tree_digest(ws)
    result = invoke("metrics", ws, "--year", 2020, "-o", ws / "targets.csv", "--overwrite")
    refused(result, "targets.csv", "never writes over its inputs")
    assert tree_digest(ws) == before


def test_score_output_onto_its_rule_file_is_refused(ws, tmp_path, no_computation):
    rules = tmp_path / "annual.toml"
    shutil.copy(Path(__file__).parents[1] / "farmland" / "scoring" / "data" / "annual.toml", rules)
    before = rules.read_bytes()
    result = invoke("score", ws, "--year", 2020, "--rules", rules, "-o", rules, "--overwrite")
    refused(result, "annual.toml", "is the input")
    assert rules.read_bytes() == before


def test_area_onto_its_own_file_keeps_the_other_layers(ws):
    source = ws / "counties" / "371521" / "bgdc_2020.gpkg"
    before = source.read_bytes()
    result = invoke("area", f"{source}:DLTB", "-o", source, "--overwrite")
    refused(result, "is the input", "bgdc_2020.gpkg")
    assert source.read_bytes() == before
    assert not leftovers(source.parent)


def test_overwrite_replaces_only_a_folder_a_run_wrote(ws, tmp_path, no_computation):
    mine = tmp_path / "my_documents"
    mine.mkdir()
    (mine / "report.docx").write_text("years of work", encoding="utf-8")
    result = invoke("assess", ws, "-o", mine, "--overwrite")
    refused(result, "not a folder that farmland wrote", "manifest.json")
    assert (mine / "report.docx").read_text(encoding="utf-8") == "years of work"
    assert not leftovers(tmp_path)


def test_overwrite_of_a_file_output_never_replaces_a_folder(ws, tmp_path):
    folder = tmp_path / "m.gpkg"
    folder.mkdir()
    (folder / "keep.txt").write_text("x", encoding="utf-8")
    source = ws / "counties" / "371521" / "bgdc_2020.gpkg"
    result = invoke("area", f"{source}:DLTB", "-o", folder, "--overwrite")
    refused(result, "is a folder")
    assert (folder / "keep.txt").exists()


def test_sample_overwrite_replaces_only_a_previous_sample(tmp_path):
    mine = tmp_path / "data"
    mine.mkdir()
    (mine / "farmland.toml").write_text("# mine\n", encoding="utf-8")
    result = invoke("sample", mine, "--overwrite", "--parcels", 200)
    refused(result, "not a sample workspace")
    assert (mine / "farmland.toml").read_text(encoding="utf-8") == "# mine\n"


def test_a_name_too_long_for_the_temporary_name_is_refused_first(ws, tmp_path, no_computation):
    out = tmp_path / ("x" * 251)
    result = invoke("assess", ws, "-o", out)
    refused(result, "255-byte limit")
    assert not leftovers(tmp_path) and not out.exists()


def test_an_unwritable_output_folder_is_refused_before_the_computation(ws, tmp_path, monkeypatch,
                                                                        no_computation):
    import farmland.output as output

    real_open = os.open

    def read_only(path, flags, *args):
        if str(path).startswith(str(tmp_path / "ro")):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(output.os, "open", read_only)  # as root, chmod alone would not stop a write
    result = invoke("assess", ws, "-o", tmp_path / "ro" / "out")
    refused(result, "cannot write in", "Permission denied", "writable")
    assert not list((tmp_path / "ro").iterdir())


@pytest.fixture
def sleeper():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process.pid
    process.kill()
    process.wait()


def test_a_second_run_into_a_folder_being_written_is_refused(ws, tmp_path, sleeper, no_computation):
    out = tmp_path / "out"
    lock = tmp_path / ".out.lock"
    lock.write_text(f"{sleeper}\n", encoding="ascii")  # another run, alive, holds the output
    result = invoke("assess", ws, "-o", out)
    refused(result, f"another farmland run (pid {sleeper}) is writing", str(out))
    assert lock.read_text(encoding="ascii") == f"{sleeper}\n" and not out.exists()


def test_a_stale_lock_of_a_finished_run_is_taken_over(ws, tmp_path):
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                             text=True)
    (tmp_path / ".dltb.gpkg.lock").write_text(process.stdout, encoding="ascii")  # that pid has exited
    source = ws / "counties" / "371521" / "bgdc_2020.gpkg"
    result = invoke("area", f"{source}:DLTB", "-o", tmp_path / "dltb.gpkg")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dltb.gpkg", "ws"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_while_writing_leave_nothing(ws, tmp_path, monkeypatch, signum):
    import farmland.areafile as areafile

    real = areafile.pyogrio.write_dataframe

    def killed(frame, path, **kwargs):
        real(frame, path, **kwargs)  # the partial file is there when the signal comes
        os.kill(os.getpid(), signum)

    monkeypatch.setattr(areafile.pyogrio, "write_dataframe", killed)
    source = ws / "counties" / "371521" / "bgdc_2020.gpkg"
    result = invoke("area", f"{source}:DLTB", "-o", tmp_path / "dltb.gpkg")
    assert result.exit_code == 128 + signum, result.output
    assert f"interrupted by {signal.Signals(signum).name}; no output was written" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]
    assert signal.getsignal(signum) is signal.SIG_DFL  # the handler is the command's only


def test_a_signal_whose_exception_python_dropped_still_stops_the_command(ws, monkeypatch):
    """Raised inside a weakref callback or __del__ (an import's module lock, say), the handler's
    exception is printed and dropped by Python; the next progress step raises it again. Before,
    such a run went on to the end (exit 0), as a real assess once did in the test below."""
    import farmland.validate as validate

    real = validate._check_targets

    def signalled_in_a_callback(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except KeyboardInterrupt:
            pass  # what Python does with an exception raised in a callback
        return real(*args, **kwargs)

    monkeypatch.setattr(validate, "_check_targets", signalled_in_a_callback)
    result = invoke("-q", "validate", ws)
    assert result.exit_code == 128 + signal.SIGTERM, result.output
    assert "interrupted by SIGTERM" in result.output


def test_sigterm_to_a_real_assess_process_leaves_no_partial_folder(ws, tmp_path):
    out = tmp_path / "out"
    before = tree_digest(ws)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    process = subprocess.Popen([sys.executable, "-m", "farmland.cli", "assess", ws, "-o", out], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / ".out.lock"
    deadline = time.monotonic() + 60
    while not lock.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.read_text(encoding="ascii").strip() == str(process.pid)  # the holder's pid
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "interrupted by SIGTERM" in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]
    assert tree_digest(ws) == before


def test_csv_cells_that_would_be_formulas_are_prefixed(tmp_path):
    frame = pd.DataFrame({"xzqmc": ['=HYPERLINK("http://x","点我")', "+1", "@SUM(A1)", "-cmd", "聊城"],
                          "text_number": ["-12.5", "+3", "1", "2", "3"], "mu": [1.5, -2.0, 0.0, 1.0, 2.0]})
    path = write_table(frame, tmp_path / "m.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel shows the Chinese
    back = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    assert back["xzqmc"].tolist() == ["'=HYPERLINK(\"http://x\",\"点我\")", "+1", "'@SUM(A1)", "'-cmd", "聊城"]
    assert back["text_number"].tolist() == ["-12.5", "+3", "1", "2", "3"]  # numbers ("+1" too) stay numbers
    assert back["mu"].tolist() == ["1.5", "-2.0", "0.0", "1.0", "2.0"]


def test_csv_formula_prefix_in_text_columns_with_gaps_and_in_mixed_columns(tmp_path):
    """Text columns (scanned at once) and mixed object columns (cell by cell) are prefixed alike."""
    frame = pd.DataFrame({"text": pd.array(["=A1", None, "ok", "-x"], dtype="str"),
                          "mixed": pd.Series(["=B2", 1.5, None, "-y"], dtype=object)})
    path = write_table(frame, tmp_path / "m.csv")
    back = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert back["text"].tolist() == ["'=A1", "", "ok", "'-x"]
    assert back["mixed"].tolist() == ["'=B2", "1.5", "", "'-y"]


def test_the_audits_csv_files_are_formula_safe_too(tmp_path):
    """Unit names and parcel ids reach the audit's findings and land-cover tables from the input."""
    import geopandas as gpd

    from farmland.audit import AuditOptions, AuditResult, write_findings
    from farmland.audit.findings import COLUMNS

    row = {column: "" for column in COLUMNS} | {
        "finding_id": "F2020-00001", "xzqdm": "371502", "xzqmc": "=HYPERLINK(\"http://x\")", "year": 2020,
        "severity": "warning", "ids": "DLTB:-1+1", "value": 1.5}
    findings = gpd.GeoDataFrame([row], geometry=[None], crs="EPSG:4527")
    fractions = pd.DataFrame({"BSM": ["@cmd"], "xzqdm": ["371502"], "cropland_m2": [1.234]})
    write_findings(AuditResult(None, 2020, findings, AuditOptions(), fractions=fractions), tmp_path)
    table = pd.read_csv(tmp_path / "findings.csv", encoding="utf-8-sig", dtype=str)
    assert table.loc[0, "xzqmc"] == "'=HYPERLINK(\"http://x\")" and table.loc[0, "ids"] == "DLTB:-1+1"
    assert table.loc[0, "value"] == "1.5"
    cover = pd.read_csv(tmp_path / "landcover_fractions.csv", encoding="utf-8-sig", dtype=str)
    assert cover.loc[0, "BSM"] == "'@cmd" and cover.loc[0, "cropland_m2"] == "1.23"
