"""The workspace: a folder holding ``farmland.toml`` and the data it names.

The file format is fixed by the data contract (docs/data.md, "A workspace"). It loads into
frozen dataclasses; unknown keys, bad TOML and missing files are :class:`WorkspaceError` s that
name the key or file and say how to fix it.

Example
-------
>>> ws = Workspace.load("sample_data/liaocheng")            # doctest: +SKIP
>>> ws.paths("DLTB", 2017)                                  # doctest: +SKIP
[PosixPath('.../counties/371502/bgdc_2017.gpkg'), ...]
"""

from __future__ import annotations

import glob
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import WorkspaceError, closest_match
from .landclass import LandClassTable

WORKSPACE_FILE = "farmland.toml"

GEOMETRY_LAYERS = ("XZQ", "DLTB", "JBNTTB", "DLTBGXGC", "JSYDSP", "WPZF", "GBZNT")
TABLE_LAYERS = ("ZBPH", "CHECKLIST", "EVENTS", "CITYSTATS")
ROW_TABLES = ("ZBPH", "CHECKLIST", "EVENTS")
"""Tables whose records evidence names by row (``ZBPH:12``); CITYSTATS has one row per year."""
RASTER_LAYERS = ("LANDCOVER",)
LAYER_NAMES = GEOMETRY_LAYERS + TABLE_LAYERS + RASTER_LAYERS

_TOP_LEVEL_KEYS = {
    "city": "[city] code and name of the city, e.g. code = \"371500\"",
    "period": "[period] start, end and base_year of the planning period",
    "targets": "[targets] path of the targets CSV (and adjustments, the register of target adjustments)",
    "townships": "[townships] path of the township list (xzdm, xzmc, optional targets)",
    "layers": "[layers] one source per layer",
    "landcover": "[landcover] raster class values meaning cropland and built-up",
    "fields": "[fields.LAYER] standard field name = field name in your data",
    "landclass": "[landclass] groups = {\"0404\" = \"agricultural\"} to regroup disputed codes",
    "units": "[units] spatial = [codes] of units (development zones) attributed by geometry",
    "options": "[options] allow_external_paths = true to read data outside the workspace",
}
_SECTION_KEYS = {
    "city": {"code", "name", "arable_target_mu", "basic_farmland_target_mu"},
    "period": {"start", "end", "base_year"},
    "targets": {"path", "adjustments"},
    "townships": {"path"},
    "landclass": {"groups"},
    "units": {"spatial"},
    "options": {"allow_external_paths"},
}
_LAYER_TABLE_KEYS = {"source", "encoding", "crs"}


def _suggest(word: str, choices) -> str:
    close = closest_match(word, choices)
    return f" Did you mean {close!r}?" if close else ""


@dataclass(frozen=True)
class Period:
    """A five-year planning period (规划期) and the year-end snapshot it starts from.

    The mid-term check (期中检查) is held in the period's third year and covers its first two
    years; the final assessment (期末考核) is held the year after the period and covers all of it
    (聊政办发〔2018〕17号 第四条).
    """

    start: int
    end: int
    base_year: int

    @property
    def years(self) -> list[int]:
        return list(range(self.start, self.end + 1))

    @property
    def data_years(self) -> list[int]:
        """Base year plus every year of the period: the snapshots the assessment reads."""
        return [self.base_year, *self.years]

    @property
    def midterm_years(self) -> list[int]:
        return self.years[:2]

    def covered_years(self, phase: str, year: int | None = None) -> list[int]:
        """Data years a phase covers: one year (annual), the first two (midterm) or all (final)."""
        if phase == "annual":
            if year is None:
                raise WorkspaceError("the annual phase needs a data year (--year).")
            return [year]
        if phase == "midterm":
            return self.midterm_years
        if phase == "final":
            return self.years
        raise WorkspaceError(f"unknown phase {phase!r}: use annual, midterm or final.")


@dataclass(frozen=True)
class LayerSource:
    """Where one layer comes from: a path template (``{year}``, globs allowed) and a layer name."""

    name: str
    template: str
    layer: str | None = None
    encoding: str | None = None
    crs: str | None = None
    frame_crs: str | None = None
    """The CRS the files of one read are brought into (default: the first file's)."""
    part_of: str | None = None
    """The template of the whole layer when this source is one county's folder of it
    (:func:`farmland.distributed.sub_workspace`, which also sets ``frame_crs`` to the whole
    read's): findings name their file, as they do in a read of several files."""

    @property
    def per_year(self) -> bool:
        return "{year}" in self.template

    @property
    def is_glob(self) -> bool:
        return any(ch in self.template for ch in "*?[")

    def describe(self) -> str:
        return self.template + (f":{self.layer}" if self.layer else "")


def split_source(source: str) -> tuple[str, str | None]:
    """Split ``"file.gpkg:LAYER"`` into path and layer; a Windows drive letter is not a layer."""
    head, sep, tail = source.rpartition(":")
    if not sep or not head or "/" in tail or "\\" in tail or len(head) == 1:
        return source, None
    return head, tail


@dataclass(frozen=True)
class Workspace:
    """A loaded, validated ``farmland.toml``.

    Attributes
    ----------
    root : Path
        The workspace folder; relative paths in the file are relative to it.
    city_code, city_name : str
        The city (e.g. ``"371500"``, ``"聊城市"``); its code labels the city-total rows.
    period : Period
    targets_path : Path
        CSV of per-unit targets in 亩 (data contract, targets.csv).
    adjustments_path : Path or None
        The register of target adjustments (``[targets] adjustments``; 17号 第五条、第十三条).
    townships_path : Path or None
        The township list (``[townships] path``: xzdm, xzmc, optional targets).
    city_targets : dict[str, float]
        The city's targets of the period from ``[city]`` (``arable_target_mu``,
        ``basic_farmland_target_mu``), when given.
    layers : dict[str, LayerSource]
    field_maps : dict[str, dict[str, str]]
        Per layer, standard field name → the name used in this data.
    landcover_classes : dict[str, tuple[int, ...]]
        Raster values meaning ``cropland`` and ``built``.
    land_classes : LandClassTable
    spatial_units : tuple[str, ...]
        XZQ unit codes attributed by geometry rather than by ZLDWDM (development zones).
    allow_external_paths : bool
    """

    root: Path
    city_code: str
    city_name: str
    period: Period
    targets_path: Path | None
    layers: Mapping[str, LayerSource] = field(repr=False)
    field_maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)
    landcover_classes: Mapping[str, tuple[int, ...]] = field(default_factory=dict, repr=False)
    land_classes: LandClassTable = field(default_factory=LandClassTable.default, repr=False)
    spatial_units: tuple[str, ...] = ()
    allow_external_paths: bool = False
    adjustments_path: Path | None = None
    townships_path: Path | None = None
    city_targets: Mapping[str, float] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return self.root / WORKSPACE_FILE

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike) -> Workspace:
        """Load a workspace from its folder or from the path of its ``farmland.toml``."""
        path = Path(path)
        file = path / WORKSPACE_FILE if path.is_dir() else path
        if not file.exists():
            hint = (
                f"{path} has no {WORKSPACE_FILE}"
                if path.is_dir()
                else f"{file} does not exist"
            )
            raise WorkspaceError(
                f"{hint}. A workspace is a folder holding {WORKSPACE_FILE}; create one with "
                "`farmland sample OUTDIR` to see the format."
            )
        try:
            # utf-8-sig: Notepad and Excel save UTF-8 with a BOM, which TOML itself does not allow.
            data = tomllib.loads(file.read_text(encoding="utf-8-sig"))
        except tomllib.TOMLDecodeError as exc:
            raise WorkspaceError(f"{file} is not valid TOML: {exc}. Fix the line it names.") from None
        except UnicodeDecodeError:
            raise WorkspaceError(f"{file} is not UTF-8 text; save it as UTF-8.") from None
        except IsADirectoryError:
            raise WorkspaceError(f"{file} is a folder, not the workspace file.") from None
        return cls.from_dict(data, root=file.parent.resolve(), file=file)

    @classmethod
    def from_dict(cls, data: Mapping, *, root: Path, file: Path | None = None) -> Workspace:
        where = str(file or root / WORKSPACE_FILE)

        def fail(msg: str) -> WorkspaceError:
            return WorkspaceError(f"{where}: {msg}")

        for key in data:
            if key not in _TOP_LEVEL_KEYS:
                raise fail(
                    f"unknown section [{key}].{_suggest(key, _TOP_LEVEL_KEYS)} Known sections: "
                    + ", ".join(f"[{k}]" for k in _TOP_LEVEL_KEYS)
                )
        for section, allowed in _SECTION_KEYS.items():
            value = data.get(section, {})
            if not isinstance(value, Mapping):
                raise fail(f"[{section}] must be a table; {_TOP_LEVEL_KEYS[section]}.")
            for key in value:
                if key not in allowed:
                    raise fail(
                        f"unknown key {key!r} in [{section}].{_suggest(key, allowed)} "
                        f"Allowed: {', '.join(sorted(allowed))}."
                    )

        def require(section: str, key: str, kind, default=None):
            value = data.get(section, {}).get(key, default)
            if value is None:
                raise fail(f"missing {section}.{key}: {_TOP_LEVEL_KEYS[section]}.")
            if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
                raise fail(f"{section}.{key} = {_shown(value)} has the wrong type: it is {_toml_type(value)}, "
                           f"it must be {_TOML_TYPES[kind]}: {_TOP_LEVEL_KEYS[section]}.")
            return value

        city_code = require("city", "code", str).strip()
        if not (city_code.isdigit() and len(city_code) == 6):
            raise fail(f"city.code = {city_code!r} must be the city's 6-digit code, e.g. code = \"371500\".")
        city_name = require("city", "name", str, default=city_code)
        period = Period(
            start=require("period", "start", int),
            end=require("period", "end", int),
            base_year=data.get("period", {}).get("base_year", require("period", "start", int) - 1),
        )
        if not isinstance(period.base_year, int) or isinstance(period.base_year, bool):
            raise fail(f"period.base_year = {period.base_year!r} must be a year (integer).")
        if not (period.base_year < period.start <= period.end):
            raise fail(
                f"period: base_year {period.base_year}, start {period.start}, end {period.end} must "
                "satisfy base_year < start ≤ end (e.g. 2015, 2016, 2020)."
            )

        options = data.get("options", {})
        allow_external = options.get("allow_external_paths", False)
        if not isinstance(allow_external, bool):
            raise fail("options.allow_external_paths must be true or false.")

        layers_raw = data.get("layers", {})
        if not isinstance(layers_raw, Mapping) or not layers_raw:
            raise fail("[layers] is missing or empty; name at least XZQ and DLTB.")
        layers: dict[str, LayerSource] = {}
        for name, spec in layers_raw.items():
            if name not in LAYER_NAMES:
                raise fail(
                    f"unknown layer {name!r} in [layers].{_suggest(name, LAYER_NAMES)} Known layers: "
                    + ", ".join(LAYER_NAMES)
                )
            if isinstance(spec, str):
                spec = {"source": spec}
            if not isinstance(spec, Mapping) or not isinstance(spec.get("source"), str) or any(
                    not isinstance(spec.get(key, ""), str) for key in ("encoding", "crs")):
                raise fail(
                    f"layers.{name} must be a string \"file[:layer]\" or a table "
                    "{ source = \"file[:layer]\", encoding = \"GBK\", crs = \"EPSG:4527\" }."
                )
            for key in spec:
                if key not in _LAYER_TABLE_KEYS:
                    raise fail(
                        f"unknown key {key!r} in layers.{name}.{_suggest(key, _LAYER_TABLE_KEYS)} "
                        f"Allowed: {', '.join(sorted(_LAYER_TABLE_KEYS))}."
                    )
            template, layer = split_source(spec["source"])
            if Path(template).is_absolute() or ".." in Path(template).parts:
                if not allow_external:
                    raise fail(
                        f"layers.{name} = {spec['source']!r} points outside the workspace folder. "
                        "Copy the data into the workspace, or set [options] allow_external_paths = "
                        "true if you mean it."
                    )
            layers[name] = LayerSource(
                name=name,
                template=template,
                layer=layer,
                encoding=spec.get("encoding"),
                crs=spec.get("crs"),
            )

        def table_path(section: str, key: str, required: bool = True) -> Path | None:
            if not required and data.get(section, {}).get(key) is None:
                return None
            raw = require(section, key, str)
            if (Path(raw).is_absolute() or ".." in Path(raw).parts) and not allow_external:
                raise fail(
                    f"{section}.{key} = {raw!r} points outside the workspace folder; copy it in or "
                    "set [options] allow_external_paths = true."
                )
            return root / raw

        targets_path = table_path("targets", "path") if "targets" in data else None
        adjustments_path = table_path("targets", "adjustments", required=False)
        townships_path = table_path("townships", "path") if "townships" in data else None
        city_targets = {}
        for key in ("arable_target_mu", "basic_farmland_target_mu"):
            if data["city"].get(key) is not None:
                city_targets[key] = float(require("city", key, (int, float)))

        field_maps: dict[str, dict[str, str]] = {}
        for name, mapping in data.get("fields", {}).items():
            if name not in LAYER_NAMES:
                raise fail(f"unknown layer [fields.{name}].{_suggest(name, LAYER_NAMES)}")
            if not isinstance(mapping, Mapping) or not all(
                isinstance(v, str) for v in mapping.values()
            ):
                raise fail(
                    f"[fields.{name}] must map standard field names to field names in your data, "
                    "e.g. DLBM = \"DLDM\"."
                )
            field_maps[name] = _checked_field_map(name, mapping, fail)

        landcover: dict[str, tuple[int, ...]] = {}
        if "landcover" in data and not {"cropland", "built"} <= set(data["landcover"]):
            missing = sorted({"cropland", "built"} - set(data["landcover"]))
            raise fail(f"[landcover] has no {' or '.join(missing)}: both classes are needed (further classes "
                       "such as water = [3] may follow), e.g. cropland = [1], built = [2].")
        for key, values in data.get("landcover", {}).items():
            values = [values] if isinstance(values, int) else values
            if not isinstance(values, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in values
            ):
                raise fail(f"landcover.{key} must be a list of integer raster values, e.g. [1].")
            landcover[key] = tuple(values)

        groups = data.get("landclass", {}).get("groups", {})
        if not isinstance(groups, Mapping):
            raise fail("landclass.groups must be a table, e.g. { \"0404\" = \"agricultural\" }.")
        try:
            land_classes = LandClassTable.default(groups)
        except WorkspaceError as exc:
            raise fail(str(exc)) from None

        spatial = data.get("units", {}).get("spatial", [])
        if not isinstance(spatial, list) or not all(isinstance(s, (str, int)) for s in spatial):
            raise fail("units.spatial must be a list of unit codes, e.g. [\"371571\"].")

        return cls(
            root=root,
            city_code=city_code,
            city_name=city_name,
            period=period,
            targets_path=targets_path,
            layers=layers,
            field_maps=field_maps,
            landcover_classes=landcover,
            land_classes=land_classes,
            spatial_units=tuple(str(s) for s in spatial),
            allow_external_paths=allow_external,
            adjustments_path=adjustments_path,
            townships_path=townships_path,
            city_targets=city_targets,
        )

    # -- resolving sources --------------------------------------------------------------------

    def has_layer(self, name: str) -> bool:
        return name in self.layers

    def source(self, name: str, *, needed_for: str | None = None) -> LayerSource:
        """The configured source of ``name``; a clear error when it is not configured."""
        if name not in self.layers:
            purpose = f" It is needed for {needed_for}." if needed_for else ""
            raise WorkspaceError(
                f"{self.file}: layer {name} is not configured.{purpose} Add it under [layers], e.g. "
                f"{name} = \"{_EXAMPLE_SOURCES.get(name, 'file.gpkg:' + name)}\"."
            )
        return self.layers[name]

    def paths(self, name: str, year: int | None = None, *, needed_for: str | None = None) -> list[Path]:
        """Files that make up layer ``name`` in ``year`` (several when the source is a glob).

        Raises :class:`WorkspaceError` naming the layer, the year and the expanded path when no
        file matches, or a match escapes the workspace folder.
        """
        src = self.source(name, needed_for=needed_for)
        if src.per_year and year is None:
            raise WorkspaceError(f"layer {name} is per year ({src.template}); a year is needed.")
        pattern = src.template.replace("{year}", str(year)) if src.per_year else src.template
        full = self.root / pattern
        if src.is_glob:
            found = sorted(Path(p) for p in glob.glob(str(full)))
        else:
            found = [full] if full.exists() else []
        if not found:
            for_year = f" for {year}" if src.per_year else ""
            purpose = f" (needed for {needed_for})" if needed_for else ""
            raise WorkspaceError(
                f"layer {name}{for_year}: no file matches {pattern!r} in {self.root}{purpose}. "
                f"Check layers.{name} in {WORKSPACE_FILE} or add the missing file."
            )
        if not self.allow_external_paths:
            root = self.root.resolve()
            for p in found:
                if not p.resolve().is_relative_to(root):
                    raise WorkspaceError(
                        f"layer {name}: {p} resolves outside the workspace (a link?). Set [options] "
                        "allow_external_paths = true if you mean it."
                    )
        return found


_TOML_TYPES = {str: "text in quotes", int: "a whole number", bool: "true or false", float: "a number"}


def _toml_type(value) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (int, float)):
        return "a number"
    return f"a {type(value).__name__}"


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _checked_field_map(layer: str, mapping: Mapping, fail) -> dict[str, str]:
    """``[fields.LAYER]``: known standard names only, each onto its own field in the data.

    Mapping a standard field onto the name of another standard field of the layer (TBDLMJ =
    "TBMJ") would read one figure as another without a word, so it is refused.
    """
    from .schema import SCHEMAS

    specs = {spec.name: spec for spec in SCHEMAS[layer]}
    targets: dict[str, str] = {}
    for key, value in mapping.items():
        if key not in specs:
            raise fail(f"[fields.{layer}] names {key!r}, which is not a standard field of {layer}."
                       f"{_suggest(key, specs)} Standard fields: {', '.join(specs)}.")
        other = next((spec.name for spec in specs.values() if spec.name != key and value.upper()
                      in {spec.name.upper(), *(a.upper() for a in spec.aliases)} and spec.name not in mapping), None)
        if other is not None:
            raise fail(f"[fields.{layer}] {key} = {value!r}: {value!r} is the standard field {other} of {layer}, "
                       f"so {key} would be read from the {other} figures. Map {key} to its own field.")
        if value.upper() in targets:
            raise fail(f"[fields.{layer}] maps both {targets[value.upper()]} and {key} onto {value!r}; each "
                       "standard field needs its own field in the data.")
        targets[value.upper()] = key
    return dict(mapping)


_EXAMPLE_SOURCES = {
    "XZQ": "xzq.gpkg:XZQ",
    "DLTB": "bgdc_{year}.gpkg:DLTB",
    "JBNTTB": "bgdc_{year}.gpkg:YJJBNTTB",
    "DLTBGXGC": "bgdc_{year}.gpkg:DLTBGXGC",
    "JSYDSP": "approvals.gpkg:JSYDSP",
    "WPZF": "wpzf_{year}.gpkg:WPZF",
    "GBZNT": "hsf.gpkg:GBZNT",
    "ZBPH": "zbph.csv",
    "CHECKLIST": "checklist.csv",
    "LANDCOVER": "landcover_{year}.tif",
    "EVENTS": "events.csv",
    "CITYSTATS": "city_stats.csv",
}
