"""The main job end to end on the bundled sample: metrics, score, explain, calendar, assess."""

import json
import re
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

from farmland.cli import main
from farmland.metrics import CONTRACT_METRICS
from farmland.reports.pdf import find_chromium

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "liaocheng"
COUNTIES = {"371502", "371521", "371522", "371523", "371524", "371525", "371526", "371581", "371571"}


def run(*args):
    result = CliRunner().invoke(main, ["-q", *map(str, args)])
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="module")
def assessed(sample_assessed):
    return sample_assessed


def test_metrics_cli_writes_the_contract_columns(tmp_path):
    out = tmp_path / "m2020.csv"
    result = run("metrics", SAMPLE, "--year", 2020, "-o", out)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype={"xzqdm": str})
    assert list(frame.columns[: 3 + len(CONTRACT_METRICS)]) == ["xzqdm", "xzqmc", "year", *CONTRACT_METRICS]
    assert set(frame["xzqdm"]) == COUNTIES | {"371500"}
    counties = frame[frame["xzqdm"] != "371500"]
    city = frame[frame["xzqdm"] == "371500"].iloc[0]
    # The city row is the sum of the units, ratios recomputed from the sums.
    assert city["arable_mu"] == pytest.approx(counties["arable_mu"].sum(), abs=1e-6)
    assert city["arable_target_mu"] == 8_446_400
    assert city["basic_farmland_target_mu"] == 7_240_500
    assert city["illegal_ratio"] == pytest.approx(city["illegal_arable_mu"] / city["construction_on_arable_mu"])


def test_metrics_cli_township_level(tmp_path):
    out = tmp_path / "t.parquet"
    assert run("metrics", SAMPLE, "--year", 2018, "--level", "township", "-o", out).exit_code == 0
    frame = pd.read_parquet(out)
    assert (frame["xzqdm"].str.len() == 9).all() and frame["xzqdm"].nunique() > 20


def test_score_final_table_invariants(tmp_path):
    out = tmp_path / "final.csv"
    result = run("score", SAMPLE, "--phase", "final", "-o", out)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype={"xzqdm": str})
    assert set(table["xzqdm"]) == COUNTIES
    assert table["total"].between(0, 100).all()
    ordered = table.sort_values("total", ascending=False)
    assert ordered["rank"].is_monotonic_increasing
    # The method has no grades or vetoes (聊政办发〔2018〕17号): the final decides 表扬 / 整改 only.
    assert "grade" not in table.columns and "vetoes" not in table.columns
    triggered = table["triggers"].fillna("") != ""
    assert (table.loc[triggered, "outcome"] == "整改").all()
    assert set(table.loc[~triggered, "outcome"].fillna("")) <= {"表扬", ""}


def test_explain_traces_illegal_occupation_to_ids_in_the_inputs():
    result = run("explain", SAMPLE, "--phase", "annual", "--year", 2017, "--unit", "371522")
    assert result.exit_code == 0, result.output
    assert "R-ILLEGAL-RATIO" in result.output and "illegal_ratio_15@2017" in result.output
    ids = set(re.findall(r"WPZF:(\d+)", result.output))
    assert ids, result.output
    monitored = set(pyogrio.read_dataframe(SAMPLE / "wpzf_2017.gpkg", columns=["JCBH"], read_geometry=False)["JCBH"])
    assert ids <= monitored


def test_explain_unknown_unit_is_a_usage_error():
    result = run("explain", SAMPLE, "--phase", "midterm", "--unit", "999999")
    assert result.exit_code == 2 and "not a scored unit" in result.output


def test_what_if_changes_the_score():
    result = run("score", SAMPLE, "--phase", "annual", "--year", 2020,
                 "--assume", "371526.supplemented_mu+=5000")
    assert result.exit_code == 0, result.output
    assert "371526" in result.output


def test_calendar():
    result = run("calendar", "--period", 2016)
    assert result.exit_code == 0
    assert "2018年3月底前" in result.output and "2021" in result.output


def test_assess_writes_every_output(assessed):
    out, printed = assessed
    assert "期末考核" in printed and "冠县" in printed
    for name in ("metrics.csv", "metrics.xlsx", "scores_final.csv", "scores_midterm.csv", "scores_annual_2020.csv",
                 "trail_final.csv", "scores.xlsx", "validation.txt", "manifest.json"):
        assert (out / name).is_file(), name
    cards = {p.stem for p in (out / "scorecards" / "final").glob("*.html")}
    assert cards == COUNTIES | {"index"}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "farmland.toml" in manifest["inputs_sha256"]
    assert "scores_final.csv" in manifest["outputs_sha256"]
    assert not any(p.name.endswith(".partial") for p in out.parent.iterdir())


@pytest.mark.skipif(find_chromium() is None, reason="Chromium prints the PDFs (apt-get install -y chromium)")
def test_assess_pdfs_are_the_same_bytes_when_printed_again(assessed, tmp_path):
    """A PDF depends on its page alone (fixed dates, no DOM node numbers): the run's pages printed
    again by another browser give its PDFs byte for byte. With the pages themselves repeating from
    run to run (tests/test_bad_inputs.py, two runs), two runs give the same PDFs."""
    from farmland.reports.pdf import print_pages

    out, _ = assessed
    printed = sorted(out.glob("scorecards/*/*.pdf"))
    assert len(printed) == 3 * (len(COUNTIES) + 1)  # the final, the mid-term and the 2020 self-check
    again = [tmp_path / pdf.relative_to(out) for pdf in printed]
    for path in again:
        path.parent.mkdir(parents=True, exist_ok=True)
    print_pages([(pdf.with_suffix(".html"), path) for pdf, path in zip(printed, again, strict=True)])
    assert [pdf.relative_to(out) for pdf, path in zip(printed, again, strict=True)
            if pdf.read_bytes() != path.read_bytes()] == []


def test_verify_re_runs_a_whole_assess_folder_and_finds_only_what_was_changed(assessed, tmp_path):
    """``farmland verify`` of an ``assess`` folder end to end: every hash checked, the assessment
    run again (PDFs printed again when the folder has them) and every file compared byte for byte.
    One table is edited and its hash in the manifest updated, so only the re-run can catch it:
    that file, and no other of the run's files, is reported."""
    import shutil

    from farmland.audit.manifest import verify_output
    from farmland.load.cache import sha256_of

    out, _ = assessed
    folder = shutil.copytree(out, tmp_path / out.name)
    edited = folder / "scores_final.csv"
    edited.write_bytes(edited.read_bytes() + b"371502,edited after the run\n")
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["outputs_sha256"]["scores_final.csv"] = sha256_of(edited)
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")

    outcome = verify_output(folder)

    assert outcome.rerun, outcome.render()
    assert [(d.where, d.path) for d in outcome.differences] == [("re-run", "scores_final.csv")], outcome.render()
    listed = manifest["outputs_sha256"]
    assert len(listed) > 1000 and any(path.endswith(".pdf") for path in listed) == bool(find_chromium())


def test_assess_refuses_to_overwrite(assessed):
    out, _ = assessed
    result = run("assess", SAMPLE, "-o", out)
    assert result.exit_code == 1 and "--overwrite" in result.output


def test_assess_reads_each_layer_of_each_file_once(monkeypatch):
    import collections

    import farmland.layers
    from farmland.load import LayerStore
    from farmland.pipeline import assess, load_workspace

    calls = collections.Counter()
    read = farmland.layers.pyogrio.read_arrow

    def counting(path, *args, **kwargs):
        calls[(str(path), kwargs.get("layer"))] += 1
        return read(path, *args, **kwargs)

    monkeypatch.setattr(farmland.layers.pyogrio, "read_arrow", counting)
    assess(SAMPLE, store=LayerStore(load_workspace(SAMPLE), cache=None))  # count parses, not cache hits
    # 8 counties × 6 years × (DLTB, YJJBNTTB) + 8 × 5 DLTBGXGC + 5 WPZF + XZQ, approvals, GBZNT
    assert len(calls) == 96 + 40 + 5 + 3
    assert max(calls.values()) == 1, [k for k, n in calls.items() if n > 1][:5]
