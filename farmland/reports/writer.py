"""Write every report product of an assessment run into its output folder.

Order: charts and maps (cached per unit and year: a card of the final and of the 2020 self-check
share their map), the HTML pages, the font subset of each page, then PDFs with one browser.
"""

from __future__ import annotations

import contextlib
import copy
import html as html_lib
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import FarmlandError
from ..parallel import apart
from .common import ReportData, data_uri, report_date
from .figures import VOCABULARY, TrendSeries, UnitMapLayers, choropleth, trend_chart, unit_map
from .fonts import FontBook, chart_font
from .progress import silent
from .sources import LayerCache

FONT_MARKER = "/*farmland-font*/"
_STYLE = re.compile(r"<style>.*?</style>", re.S)
_TAG = re.compile(r"<[^>]+>")


def visible_text(page: str) -> str:
    """The characters a page shows (tags, styles and attribute values such as data URIs dropped)."""
    return html_lib.unescape(_TAG.sub(" ", _STYLE.sub(" ", page)))


def safe_name(code: str) -> str:
    # Unit codes come from input data: keep them from naming paths outside the folder.
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(code)) or "_"


@dataclass
class Written:
    """What :func:`write_reports` wrote (paths relative to the output folder) and what it skipped."""

    html: list[Path] = field(default_factory=list)
    pdf: list[Path] = field(default_factory=list)
    other: list[Path] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


class Figures:
    """Charts and maps of one run, each drawn once."""

    def __init__(self, assessment, data: ReportData):
        self.assessment = assessment
        self.ws = assessment.workspace
        self.data = data
        names = "".join(data.names("county").values()) + "".join(data.names("city").values())
        self.font = chart_font(VOCABULARY + names + self.ws.city_name)
        self.layers = LayerCache(self.ws, getattr(assessment, "store", None))
        self._trends: dict[str, str] = {}
        self._maps: dict[tuple[str, int], str | None] = {}

    def trend_svg(self, code: str) -> bytes:
        """The unit's trend chart (SVG): areas against targets, the illegal ratio and its 15% line."""
        d = self.data
        series = TrendSeries(
            years=d.annual_years, arable=d.series(code, "arable_mu"), arable_target=d.series(code, "arable_target_mu"),
            bf=d.series(code, "basic_farmland_mu"), bf_target=d.series(code, "basic_farmland_target_mu"),
            illegal_ratio=d.series(code, "illegal_ratio"), line=self._line())
        return trend_chart(series, self.font)

    def trend(self, code: str) -> str:
        if code not in self._trends:
            self._trends[code] = data_uri(self.trend_svg(code), "image/svg+xml")
        return self._trends[code]

    @staticmethod
    def _line() -> float:
        from ..metrics.occupation import ILLEGAL_RATIO_THRESHOLD

        return float(ILLEGAL_RATIO_THRESHOLD)

    def _of_unit(self, name: str, year: int | None, code: str):
        frame = self.layers.layer(name, year)
        return None if frame is None else self.layers.for_unit(frame, name, code)

    def map(self, code: str, year: int) -> str | None:
        key = (code, year)
        if key not in self._maps:
            self._maps[key] = None
            try:
                xzq = self.layers.xzq
                if xzq is None:
                    return None
                outline = self.layers.unit_outline(code)
                if outline.empty:
                    return None
                empty = xzq.iloc[0:0]
                dltb = self._of_unit("DLTB", year, code)
                if dltb is not None and len(dltb):
                    dltb = dltb[self.ws.land_classes.is_arable(dltb["DLBM"])]
                bf = self._of_unit("JBNTTB", year, code)
                changes = self._of_unit("DLTBGXGC", year, code)
                wpzf = self._of_unit("WPZF", year, code)
                if wpzf is not None and len(wpzf):
                    wpzf = wpzf[pd.to_numeric(wpzf["WFZYGDMJ"], errors="coerce").fillna(0) > 0]
                layers = UnitMapLayers(
                    outline=outline, arable=empty if dltb is None else dltb, bf=empty if bf is None else bf,
                    changes=empty if changes is None else changes, illegal=empty if wpzf is None else wpzf,
                    others=xzq[xzq["XZQDM"].astype(str) != str(code)])
                self._maps[key] = data_uri(unit_map(layers, self.font, year=year), "image/png")
            except FarmlandError:
                self._maps[key] = None  # a layer that cannot be read: the card says no map
        return self._maps[key]

    def drawing_from(self, layers: LayerCache) -> Figures:
        """These figures (their font) drawing maps from other layers, e.g. one county's."""
        other = copy.copy(self)
        other.layers, other._maps = layers, {}
        return other

    def take_maps(self, maps: dict) -> None:
        """Maps drawn elsewhere (:meth:`map` of another process), keyed as :meth:`map` keeps them."""
        self._maps.update(maps)

    def choropleth(self, result) -> str | None:
        xzq = self.layers.xzq
        if xzq is None:
            return None
        units = xzq[xzq["XZQDM"].astype(str).isin(set(result.table["xzqdm"]))]
        if units.empty:
            return None
        totals = pd.Series(result.table["total"].to_numpy(), index=result.table["xzqdm"].to_numpy())
        names = pd.Series(result.table["xzqmc"].to_numpy(), index=result.table["xzqdm"].to_numpy())
        return data_uri(choropleth(units, totals, names, self.font), "image/png")


def inputs_digest(ws, store=None) -> str:
    """SHA-256 over the sorted (file, SHA-256) pairs of every input: one line on each page; the
    manifest lists each file. ``store``: the run's layer store, whose hashes are reused."""
    import hashlib

    from ..audit.manifest import input_hashes

    lines = [f"{path}\t{digest}" for path, digest in sorted(input_hashes(ws, store).items())]
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _provenance(result, digest: str = "") -> dict:
    import platform
    from importlib.metadata import version

    import pyogrio

    versions = (f"farmland {version('farmland')} · Python {platform.python_version()} · "
                f"GDAL {pyogrio.__gdal_version_string__}")
    inputs = f"输入数据 SHA-256 汇总 {digest[:16]}（逐个文件见 manifest.json）· " if digest else ""
    rules = f"规则集 {result.rules.name} SHA-256 {result.rules.sha256[:16]} · " if result.rules.sha256 else ""
    return {"line": f"{inputs}{rules}{versions} · 由 farmland 根据成果表生成，数字均取自 metrics.csv 与 scores_*.csv。"}


def _adjustments(frame, code: str, year: int) -> list[dict]:
    if frame is None or frame.empty:
        return []
    mine = frame[(frame["xzqdm"].astype(str) == str(code)) & (frame["year"].astype(float) <= year)]
    return [{"year": int(r.year), "kind": r.kind, "arable": float(r.arable_mu), "bf": float(r.basic_farmland_mu),
             "document": r.document} for r in mine.itertuples(index=False)]


def _distances(table: pd.DataFrame, code: str) -> list[str]:
    """The unit's distance to every line of the rule set, in words (:func:`farmland.scoring.robust.boundaries`)."""
    return [t for t in table.loc[table["xzqdm"] == str(code), "text"] if t]


def _card_page(result, code: str, name: str, *, figures: Figures, lines: pd.DataFrame, calendar: str,
               provenance: dict, date: str, with_map: bool = True) -> str:
    """One card's HTML (font rule not yet in: see :data:`FONT_MARKER`)."""
    from .scorecard import card_context, render_scorecard

    ws = figures.ws
    context = card_context(
        result, code, data=figures.data, city_name=ws.city_name, period_start=ws.period.start,
        trend=figures.trend(code), map_uri=figures.map(code, int(result.year)) if with_map else None,
        map_year=int(result.year),
        distances=_distances(lines, code), adjustments=_adjustments(figures.layers.adjustments, code, int(result.year)),
        calendar=calendar, provenance=provenance, date=date, assessment_name=name, file_name=safe_name(code))
    return render_scorecard(context)


def card_html(assessment, code: str, check: str = "final", figures: Figures | None = None) -> str:
    """A unit's scorecard of one check (``"final"``, ``"midterm"``, ``"annual_2019"``) as a
    self-contained page, e.g. to show in a notebook."""
    from dataclasses import replace

    from ..scoring.explain import annotated_trail
    from ..scoring.robust import boundaries
    from .summary import calendar_line

    results = dict(assessment.results())
    if check not in results:
        raise KeyError(f"no check {check!r}; checks: {', '.join(results)}")
    result = results[check]
    result = replace(result, trail=annotated_trail(result))
    figures = figures or Figures(assessment, ReportData(assessment.metrics.table))
    ws = assessment.workspace
    page = _card_page(result, str(code), check, figures=figures, lines=boundaries(result),
                      calendar=calendar_line(ws.period.start, result.phase, result.year),
                      provenance=_provenance(result, inputs_digest(ws, figures.layers.store)), date=report_date().isoformat())
    return page.replace(FONT_MARKER, FontBook(visible_text(page)).css(), 1)


def write_reports(assessment, folder: str | Path, *, pdf: bool | None = None, pdf_checks: str = "current",
                  progress: Callable[[str, int, int], None] | None = None,
                  notice: Callable[[str], None] | None = None, beside: Callable[[], None] | None = None) -> Written:
    """Scorecards and city summaries (HTML, and PDF when Chromium is there), problem-parcel
    lists (GeoPackage, Excel) and Word reports of every check.

    With a second core (:mod:`farmland.parallel`) the unit maps are drawn in a forked child
    while the charts are drawn here, and ``beside`` runs in another while the pages are written
    and printed; the files are the same as in one process.

    Parameters
    ----------
    assessment : farmland.pipeline.Assessment
    folder : path
        The run's output folder; pages go to ``scorecards/<assessment>/``.
    pdf : bool, optional
        ``None`` (default): print PDFs when Chromium is installed, else skip with a notice;
        ``True``: Chromium is required; ``False``: HTML only.
    pdf_checks : {"current", "all"}
        Which checks get PDFs and maps on their cards: the final, the mid-term and the latest
        annual self-check (the ones still to be filed or printed; default), or every check.
    progress : callable(label, done, total), optional
        Called as pages are drawn and printed (e.g. :class:`.progress.ProgressLine`).
    notice : callable(str), optional
        Receives what a person should know (a skipped PDF step).
    beside : callable, optional
        More writing of the same run into other files (``write_assessment``'s tables), done
        while the pages are written; it must not return anything the pages need.
    """
    from ..parallel import alongside, in_turn
    from .pdf import require_chromium

    if pdf:  # before anything is drawn
        require_chromium()
    run = _ReportRun(assessment, Path(folder), pdf_checks=pdf_checks, progress=progress or silent)
    # assess --by-county runs for its memory: one piece at a time (each county's maps and records
    # in a child of its own), not a second copy of the run beside this one.
    side_by_side = in_turn if run.counties else alongside
    with side_by_side(run.draw_maps) as maps:
        run.draw_charts()
        run.figures.take_maps(maps.result())
    run.found = run.records_by_county()  # before the printing thread starts: a threaded process cannot fork
    with side_by_side(beside) if beside is not None else contextlib.nullcontext():
        run.write_pages()
        run.print_and_document(pdf, notice)
    return run.written


class _ReportRun:
    """One run's report products, in the order :func:`write_reports` makes them."""

    def __init__(self, assessment, folder: Path, *, pdf_checks: str, progress):
        self.assessment = assessment
        self.ws = assessment.workspace
        self.folder = folder
        self.progress = progress
        self.data = ReportData(assessment.metrics.table)
        self.figures = Figures(assessment, self.data)
        self.date = report_date().isoformat()
        self.written = Written()
        self.results = _annotated(assessment)
        self.digest = inputs_digest(self.ws, self.figures.layers.store)
        # The checks still to be filed or printed: the final, the mid-term and the latest
        # self-check. Their cards carry the unit's map and are printed; earlier self-checks'
        # cards (already filed) keep the charts and the tables, unless every check is asked for.
        self.latest_annual = max((int(r.year) for _, r in self.results if r.phase == "annual"), default=None)
        self.current = {name for name, r in self.results if pdf_checks == "all" or r.phase != "annual"
                        or int(r.year) == self.latest_annual}
        self.choropleths: dict[str, str | None] = {}
        self.pages: list[tuple[Path, str]] = []
        self.counties = _counties(assessment, self.figures.layers.store)
        self.found: dict[str, list] = {}
        """Each check's problem records found already (:meth:`records_by_county`), by check name."""

    def draw_maps(self) -> dict:
        """Every map the cards show (unit, year) → data URI (or None: no map)."""
        keys = list(dict.fromkeys((str(code), int(result.year)) for name, result in self.results
                                  if name in self.current for code in result.table["xzqdm"]))
        maps = {}
        for partition in self.counties:
            mine = [key for key, own in zip(keys, partition.owns(pd.Series([c for c, _ in keys], dtype=object)),
                                            strict=True) if own]
            if mine:
                maps.update(apart(_county_maps, self, partition, mine))
        return maps | {key: self.figures.map(*key) for key in keys if key not in maps}

    def draw_charts(self) -> None:
        """The summaries' choropleths and every unit's trend chart."""
        for done, (name, result) in enumerate(self.results, 1):
            self.choropleths[name] = self.figures.choropleth(result)
            for code in result.table["xzqdm"]:
                self.figures.trend(code)
            self.progress("drawing charts", done, len(self.results))

    def write_pages(self) -> None:
        """Every summary and card as HTML, with the run's font embedded."""
        from ..scoring.robust import boundaries
        from .summary import calendar_line, render_summary, summary_context

        ws, folder, figures = self.ws, self.folder, self.figures
        pages = self.pages
        total_pages = sum(len(r.table) + 1 for _, r in self.results)
        for name, result in self.results:
            cards = folder / "scorecards" / name
            cards.mkdir(parents=True, exist_ok=True)
            provenance = _provenance(result, self.digest)
            calendar = calendar_line(ws.period.start, result.phase, result.year)
            summary = summary_context(result, data=self.data, city_code=ws.city_code, city_name=ws.city_name,
                                      city_targets=dict(ws.city_targets), period_start=ws.period.start,
                                      choropleth=self.choropleths[name], provenance=provenance, date=self.date,
                                      assessment_name=name)
            pages.append((cards / "index.html", render_summary(summary)))
            self.progress("drawing cards", len(pages), total_pages)
            lines = boundaries(result)
            for code in result.table["xzqdm"]:
                pages.append((cards / f"{safe_name(code)}.html",
                              _card_page(result, code, name, figures=figures, lines=lines, calendar=calendar,
                                         provenance=provenance, date=self.date, with_map=name in self.current)))
                self.progress("drawing cards", len(pages), total_pages)

        book = FontBook("".join(visible_text(page) for _, page in pages))
        for done, (path, page) in enumerate(pages, 1):
            path.write_text(page.replace(FONT_MARKER, book.css(visible_text(page)), 1), encoding="utf-8")
            self.written.html.append(path.relative_to(folder))
            self.progress("embedding fonts", done, len(pages))

    def print_and_document(self, pdf: bool | None, notice) -> None:
        """PDFs of the current checks' pages, printed by Chromium in its own process while the
        problem-parcel lists and Word reports are written here."""
        from .pdf import INSTALL_HINT, BrowserError, find_chromium, print_pages

        jobs: list[tuple[Path, Path]] = []
        if pdf is not False:
            if pdf or find_chromium() is not None:  # pdf=True: Chromium was found before the drawing
                jobs = [(path, path.with_suffix(".pdf")) for path, _ in self.pages if path.parent.name in self.current]
            else:
                self.written.notices.append(INSTALL_HINT)
                if notice is not None:
                    notice(INSTALL_HINT)
        with ThreadPoolExecutor(max_workers=1) as pool:
            printing = pool.submit(print_pages, jobs) if jobs else None
            self.write_documents()
            if printing is not None:
                self.progress("printing PDF", 0, len(jobs))
                try:
                    printing.result()
                except BrowserError as exc:
                    raise BrowserError(
                        f"printing the PDFs failed: {exc}. Run again with --no-pdf (pdf=False) to write "
                        "everything but the PDFs, or set FARMLAND_CHROMIUM to a Chromium that prints.") from exc
                self.progress("printing PDF", len(jobs), len(jobs))
        self.written.pdf.extend(p.relative_to(self.folder) for _, p in jobs)

    def records_by_county(self) -> dict[str, list]:
        """``assess --by-county``: each check's problem records, found county by county
        (:func:`_county_records`, each county in a child of its own); {} for other runs, whose
        records are found check by check as the lists are written."""
        from .parcels import check_evidence, check_years

        if not self.counties:
            return {}
        # Every unit scored belongs to one county's partition (plan_partitions refuses a unit it
        # cannot place), so the counties' records together are every check's.
        evidence = {name: check_evidence(result) for name, result in self.results}
        years = {name: check_years(self.ws, result) for name, result in self.results}
        found = {name: [None] * len(rows) for name, rows in evidence.items()}
        for partition in self.counties:
            rows = {name: np.flatnonzero(partition.owns(frame["xzqdm"])) for name, frame in evidence.items()}
            if not any(len(r) for r in rows.values()):
                continue
            requests = [(evidence[name]["evidence"].to_numpy()[r], years[name]) for name, r in rows.items()]
            for (name, r), got in zip(rows.items(), apart(_county_records, self, partition, requests), strict=True):
                for row, record in zip(r, got, strict=True):
                    found[name][row] = record
        return found

    def write_documents(self) -> None:
        """The problem-parcel lists (``problem_parcels/<check>.gpkg`` and ``.xlsx``) and the Word
        reports (``word/<check>/``) of every check."""
        from .parcels import problem_parcels, write_problem_parcels
        from .word import city_report, county_self_check

        ws, folder, data, results, date = self.ws, self.folder, self.data, self.results, self.date
        lists = folder / "problem_parcels"
        lists.mkdir(parents=True, exist_ok=True)
        for done, (name, result) in enumerate(results, 1):
            frame = problem_parcels(result, self.figures.layers, found=self.found.get(name))
            write_problem_parcels(frame, lists / f"{name}.gpkg", lists / f"{name}.xlsx")
            self.written.other += [Path("problem_parcels") / f"{name}.gpkg", Path("problem_parcels") / f"{name}.xlsx"]
            self.progress("problem parcels", done, len(results))

        for done, (name, result) in enumerate(results, 1):
            documents = folder / "word" / name
            documents.mkdir(parents=True, exist_ok=True)
            city_report(result, data=data, city_code=ws.city_code, city_name=ws.city_name,
                        city_targets=dict(ws.city_targets), period_start=ws.period.start, date=date,
                        path=documents / "result_report.docx")
            self.written.other.append(Path("word") / name / "result_report.docx")
            # 第八、九条: each county reports its self-check of the year by the end of February; the
            # drafts are for the latest year of the run (earlier years' reports were filed already).
            if result.phase == "annual" and int(result.year) == self.latest_annual:
                for code in result.table["xzqdm"]:
                    target = documents / f"self_check_{safe_name(code)}.docx"
                    county_self_check(result, code, data=data, city_name=ws.city_name,
                                      period_start=ws.period.start, date=date, path=target)
                    self.written.other.append(target.relative_to(folder))
            self.progress("Word reports", done, len(results))


def _counties(assessment, store) -> list:
    """The counties of an ``assess --by-county`` run (:func:`farmland.distributed.plan_partitions`),
    whose maps and lists read one county's parcels at a time; [] for any other run."""
    if not assessment.parameters.get("by_county"):
        return []
    from ..distributed import plan_partitions
    from ..report import Report

    return plan_partitions(assessment.workspace, Report(strict=False), store)


def _county_layers(run: _ReportRun, partition) -> LayerCache:
    from ..distributed import county_view
    from ..load import LayerStore

    view = county_view(run.ws, partition)
    # The cache holds the frames it serves: a store holding them too would double them.
    return LayerCache(view, LayerStore(view, cache=run.figures.layers.store.cache, hold=False))


def _county_maps(run: _ReportRun, partition, keys: list) -> dict:
    """The maps of one county's units (in a child: its parcels' memory ends with it)."""
    figures = run.figures.drawing_from(_county_layers(run, partition))
    return {key: figures.map(*key) for key in keys}


def _county_records(run: _ReportRun, partition, requests) -> list[list]:
    """:func:`~.parcels.find_records` in one county's layers, one year held at a time."""
    from .parcels import find_records

    return find_records(_county_layers(run, partition), requests, year_by_year=True)


def _annotated(assessment) -> list[tuple[str, object]]:
    """Every check's result with the trail's Chinese sentences (cards, lists and reports read them)."""
    from dataclasses import replace

    from ..scoring.explain import annotated_trail

    return [(name, replace(r, trail=annotated_trail(r)) if "note" not in r.trail else r)
            for name, r in assessment.results()]
