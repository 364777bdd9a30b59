"""An interactive map of one unit's evidence in a notebook (folium / Leaflet, via geopandas).

The parcels drawn are the problem parcels of :mod:`.parcels` — the records behind the unit's lost
points, deductions, 34号 triggers and review findings — over the unit's outline, with its arable
land and permanent basic farmland of the check's year on request. Hovering a parcel shows its
evidence id (as on the scorecard and in the trail), rule, year, area and why it is listed.

folium is an optional extra (``pip install 'farmland[explore]'``). No tile server is contacted
unless the caller names one: the default map has no background tiles.
"""

from __future__ import annotations

INSTALL_HINT = "explore() draws with folium and mapclassify; install them with: pip install 'farmland[explore]'"

#: Fill colour of each kind of problem (the words of :data:`.parcels.KIND_WORDS`).
KIND_COLORS = {"失分": "#e69138", "问责情形（34号 四（三））": "#cc0000", "待核实": "#8e44ad"}
TOOLTIP = ["evidence_id", "layer", "record_id", "year", "rule", "kind", "area_mu", "why"]


def _folium():
    try:
        import folium
        import mapclassify  # noqa: F401  geopandas' explore() imports it on every call
    except ImportError:  # optional: only the interactive map needs them
        raise ImportError(INSTALL_HINT) from None
    return folium


def unit_evidence(assessment, code: str, check: str = "final", *, cache=None):
    """The problem parcels of unit ``code`` in ``check`` that have a geometry (GeoDataFrame).

    Rows as in :func:`farmland.reports.parcels.problem_parcels`; ledger, checklist and event rows
    (no geometry) are left out.
    """
    from .parcels import problem_parcels
    from .sources import LayerCache

    result = _result(assessment, check)
    frame = problem_parcels(result, cache or LayerCache(assessment.workspace))
    mine = frame[(frame["xzqdm"] == str(code)) & frame.geometry.notna()]
    return mine.reset_index(drop=True)


def _result(assessment, check: str):
    results = dict(assessment.results())
    if check not in results:
        raise KeyError(f"no check {check!r}; checks: {', '.join(results)}")
    return results[check]


def explore(assessment, code: str, check: str = "final", *, farmland: bool = False, tiles=None,
            attr: str | None = None, height: int | str = 600):
    """An interactive map of the evidence behind unit ``code``'s score in one check.

    Parameters
    ----------
    assessment : farmland.pipeline.Assessment
        The result of :func:`farmland.pipeline.assess`.
    code : str
        The unit's code (XZQDM), e.g. ``"371524"``.
    check : str, default "final"
        ``"final"``, ``"midterm"`` or ``"annual_<year>"`` (the labels of ``assessment.results()``).
    farmland : bool, default False
        Also draw the unit's arable land (DLTB) and permanent basic farmland (JBNTTB) at the end
        of the check's year. Off by default: a county's parcels make a large page.
    tiles : str or xyzservices.TileProvider, optional
        Background tiles, as for :meth:`geopandas.GeoDataFrame.explore`. Default ``None``: no
        tile server is contacted (the assessment works offline); pass e.g.
        ``"OpenStreetMap"`` to add one.
    attr : str, optional
        Attribution of custom tiles given by URL.
    height : int or str, default 600
        Height of the map in pixels (or a CSS length).

    Returns
    -------
    folium.Map
        Layers: the unit's outline, its problem parcels by kind (失分, 问责情形, 待核实; each
        parcel's tooltip holds its evidence id, rule, year, area in 亩 and the reason), and with
        ``farmland=True`` the arable land and basic farmland; a layer control switches them.
        The map displays itself in a notebook; ``.save("map.html")`` writes it to a file. The
        page loads Leaflet's scripts from a CDN when opened, so viewing needs a browser that can
        reach one.

    Raises
    ------
    ImportError
        When folium or mapclassify is missing, naming ``pip install 'farmland[explore]'``.
    KeyError
        When the check or the unit is not in the assessment.

    See Also
    --------
    farmland.reports.parcels.problem_parcels : the same rows, for every unit, as GeoPackage and Excel.
    farmland.reports.unit_card : the unit's printable scorecard.

    Examples
    --------
    >>> from farmland.pipeline import assess
    >>> from farmland.reports import explore
    >>> assessment = assess("sample_data/liaocheng")          # doctest: +SKIP
    >>> explore(assessment, "371524", "annual_2018")          # doctest: +SKIP
    """
    folium = _folium()
    from .figures import COLORS
    from .sources import LayerCache

    result = _result(assessment, check)
    code = str(code)
    if code not in set(result.table["xzqdm"].astype(str)):
        raise KeyError(f"no unit {code!r} in {check}; units: {', '.join(result.table['xzqdm'])}")
    cache = LayerCache(assessment.workspace)
    outline = cache.unit_outline(code)
    evidence = unit_evidence(assessment, code, check, cache=cache)
    name = str(result.table.set_index("xzqdm").at[code, "xzqmc"])

    m = folium.Map(tiles=tiles, attr=attr, height=height, control_scale=True)
    if not outline.empty:
        outline[["XZQDM", "XZQMC", "geometry"]].explore(
            m=m, name=f"{name} 行政区界", color=COLORS["outline"], tooltip=["XZQDM", "XZQMC"],
            style_kwds={"fill": False, "weight": 2})
    if farmland:
        year = int(result.year)
        dltb = cache.for_unit(cache.layer("DLTB", year), "DLTB", code)
        if dltb is not None and len(dltb):
            arable = dltb[assessment.workspace.land_classes.is_arable(dltb["DLBM"])]
            arable[["BSM", "DLBM", "TBDLMJ", "geometry"]].explore(
                m=m, name=f"耕地（{year}年末）", color=COLORS["arable"], tooltip=["BSM", "DLBM", "TBDLMJ"],
                style_kwds={"weight": 0, "fillOpacity": 0.6})
        bf = cache.for_unit(cache.layer("JBNTTB", year), "JBNTTB", code)
        if bf is not None and len(bf):
            bf[["BSM", "YJJBNTMJ", "geometry"]].explore(
                m=m, name=f"永久基本农田（{year}年末）", color=COLORS["bf"], tooltip=["BSM", "YJJBNTMJ"],
                style_kwds={"weight": 0.5, "fillOpacity": 0.3})
    for kind, rows in evidence.groupby("kind", sort=False):
        rows[[*TOOLTIP, "geometry"]].explore(
            m=m, name=f"{kind}（{len(rows)}）", color=KIND_COLORS.get(kind, COLORS["change"]), tooltip=TOOLTIP,
            style_kwds={"weight": 2, "fillOpacity": 0.7})
    shown = outline if not outline.empty else evidence
    if len(shown):
        west, south, east, north = shown.to_crs(4326).total_bounds
        m.fit_bounds([[south, west], [north, east]])
    folium.LayerControl(collapsed=False).add_to(m)
    return m
