"""farmland.toml loading: the contract's format, and clear errors for everything else."""

import pytest

from farmland.errors import WorkspaceError
from farmland.workspace import Period, Workspace, split_source

from builders import WORKSPACE_TOML, write_workspace


def test_loads_contract_example(tmp_path):
    ws = Workspace.load(write_workspace(tmp_path))
    assert ws.city_code == "371500" and ws.city_name == "聊城市"
    assert ws.period == Period(start=2016, end=2020, base_year=2015)
    assert ws.period.data_years == [2015, 2016, 2017, 2018, 2019, 2020]
    assert ws.layers["JBNTTB"].layer == "YJJBNTTB"
    assert ws.paths("DLTB", 2017) == [tmp_path / "bgdc_2017.gpkg"]
    assert ws.targets_path == tmp_path / "targets.csv"


def test_period_phases():
    period = Period(2016, 2020, 2015)
    assert period.covered_years("annual", 2018) == [2018]
    assert period.covered_years("midterm") == [2016, 2017]
    assert period.covered_years("final") == [2016, 2017, 2018, 2019, 2020]


@pytest.mark.parametrize(
    "source, expected",
    [
        ("bgdc_{year}.gpkg:DLTB", ("bgdc_{year}.gpkg", "DLTB")),
        ("zbph.csv", ("zbph.csv", None)),
        ("counties/*/bgdc_{year}.gdb:DLTB", ("counties/*/bgdc_{year}.gdb", "DLTB")),
        ("C:\\data\\x.gpkg", ("C:\\data\\x.gpkg", None)),
    ],
)
def test_split_source(source, expected):
    assert split_source(source) == expected


def _write(tmp_path, text):
    (tmp_path / "farmland.toml").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "change, message",
    [
        (("[layers]", "[layer]"), "unknown section [layer]. Did you mean 'layers'?"),
        (("XZQ = ", "XZQQ = "), "unknown layer 'XZQQ' in [layers]. Did you mean 'XZQ'?"),
        (("base_year = 2015", "base_yaer = 2015"), "unknown key 'base_yaer' in [period]"),
        (("start = 2016", "start = \"2016\""), "period.start = '2016' has the wrong type"),
        (("end = 2020", "end = 2014"), "base_year < start ≤ end"),
        (("code = \"371500\"\n", ""), "missing city.code"),
        (("[city]", "[city"), "is not valid TOML"),
        (("xzq.gpkg:XZQ", "../elsewhere/xzq.gpkg:XZQ"), "points outside the workspace folder"),
    ],
)
def test_bad_workspace_files_name_the_key(tmp_path, change, message):
    old, new = change
    assert old in WORKSPACE_TOML
    _write(tmp_path, WORKSPACE_TOML.replace(old, new, 1))
    with pytest.raises(WorkspaceError, match=None) as info:
        Workspace.load(tmp_path)
    assert message in str(info.value)


def test_missing_workspace_file(tmp_path):
    with pytest.raises(WorkspaceError, match="has no farmland.toml"):
        Workspace.load(tmp_path)


def test_external_paths_need_explicit_permission(tmp_path):
    text = WORKSPACE_TOML.replace("xzq.gpkg:XZQ", "../x/xzq.gpkg:XZQ") + "\n[options]\nallow_external_paths = true\n"
    ws = Workspace.load(_write(tmp_path, text))
    assert ws.layers["XZQ"].template == "../x/xzq.gpkg"


def test_missing_file_for_a_year_names_layer_year_and_pattern(tmp_path):
    ws = Workspace.load(write_workspace(tmp_path, years=[2015]))
    with pytest.raises(WorkspaceError) as info:
        ws.paths("DLTB", 2016, needed_for="retained arable")
    text = str(info.value)
    assert "layer DLTB for 2016" in text and "bgdc_2016.gpkg" in text and "retained arable" in text


def test_unconfigured_layer_says_how_to_add_it(tmp_path):
    ws = Workspace.load(write_workspace(tmp_path, years=[2015]))
    with pytest.raises(WorkspaceError, match=r'WPZF = "wpzf_\{year\}.gpkg:WPZF"'):
        ws.source("WPZF", needed_for="the 15% ratio")


def test_field_maps_and_landclass_overrides(tmp_path):
    text = WORKSPACE_TOML + '\n[fields.DLTB]\nDLBM = "DLDM"\n\n[landclass]\ngroups = { "0404" = "agricultural" }\n'
    ws = Workspace.load(_write(tmp_path, text))
    assert ws.field_maps["DLTB"] == {"DLBM": "DLDM"}
    assert ws.land_classes.group_of(["0404"])[0] == "agricultural"


def test_landclass_override_of_unknown_code_is_an_error(tmp_path):
    text = WORKSPACE_TOML + '\n[landclass]\ngroups = { "9999" = "agricultural" }\n'
    with pytest.raises(WorkspaceError, match="'9999', which is not in the land-class table"):
        Workspace.load(_write(tmp_path, text))


def test_city_targets_adjustments_and_townships_are_read(tmp_path):
    toml = (WORKSPACE_TOML
            .replace('name = "聊城市"\n', 'name = "聊城市"\narable_target_mu = 8446400\n'
                     'basic_farmland_target_mu = 7240500.0\n')
            .replace('path = "targets.csv"\n', 'path = "targets.csv"\n'
                     'adjustments = "target_adjustments.csv"\n\n[townships]\npath = "townships.csv"\n'))
    ws = Workspace.load(write_workspace(tmp_path, toml=toml))
    assert ws.city_targets == {"arable_target_mu": 8446400.0, "basic_farmland_target_mu": 7240500.0}
    assert ws.adjustments_path == tmp_path / "target_adjustments.csv"
    assert ws.townships_path == tmp_path / "townships.csv"
    plain = Workspace.load(write_workspace(tmp_path / "plain"))
    assert plain.adjustments_path is None and plain.townships_path is None and not plain.city_targets


@pytest.mark.parametrize("old, new, suggestion", [
    ('path = "targets.csv"\n', 'path = "targets.csv"\nadjustment = "a.csv"\n', "adjustments"),
    ('name = "聊城市"\n', 'name = "聊城市"\narable_target = 1\n', "arable_target_mu"),
    ('[targets]', '[township]\npath = "t.csv"\n\n[targets]', "townships"),
])
def test_new_keys_have_did_you_mean(tmp_path, old, new, suggestion):
    with pytest.raises(WorkspaceError, match=f"Did you mean '{suggestion}'"):
        Workspace.load(write_workspace(tmp_path, toml=WORKSPACE_TOML.replace(old, new)))
