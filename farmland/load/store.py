"""The layer store: every input of one run read once and handed to each stage.

A command builds one :class:`LayerStore` for its workspace and passes it to validation, the
metrics, the audit and the reports. The first request for a layer and year reads it (through the
disk cache of parsed files when there is one); a later request that the first read covers (the
fields asked for, and the geometry if asked for) is served from memory. Findings are reported by
the first read only. Every caller gets its own copy of a frame, so no stage can alter another's
data.

The store also records every file it read and hashes each at most once per run (the cache key
needs it): the manifest and the provenance line of the reports reuse those hashes.
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from ..report import Report
from ..workspace import Workspace
from .cache import ReadCache, cache_disabled_by_environment, content_files, sha256_of
from .shapes import CheckedShapes


READ_AHEAD = 1
"""Layers :meth:`LayerStore.read_ahead` reads before they are asked for when the store holds
nothing: the next one, so each read overlaps the checks of the layer before it while at most one
unclaimed frame is held."""

READ_AHEAD_HELD = 6
"""The same for a store that holds its layers (the default), which keeps every layer read for
the later stages anyway: while the first snapshot is checked (the longest checks, as every
parcel is new) the reading thread reads on into the next year instead of waiting, and a year's
short layers are checked while the next snapshot is read. With 3, the thread waited ~0.8 s on
the 300k city (validation 18.2 s against 17.8 s, same peak)."""


class LayerStore:
    """The layers of one workspace, each read once per run.

    Parameters
    ----------
    ws : Workspace
    cache : ReadCache or None or "default"
        Parsed files kept as GeoParquet between runs (:mod:`farmland.load.cache`). ``"default"``
        (the default): the user's cache folder unless ``FARMLAND_NO_CACHE`` is set; ``None``:
        parse every file (``--no-cache``).
    hold : bool
        Keep each layer read for the later stages (the default). ``False`` hands every read to
        its caller alone and keeps nothing, so at most the layers a stage is working on are in
        memory; a layer asked for again is read again (through the disk cache, when there is
        one). ``assess --by-county`` reads so.
    """

    def __init__(self, ws: Workspace, *, cache: ReadCache | None | str = "default", hold: bool = True):
        self.ws = ws
        self.hold = hold
        if cache == "default":
            cache = None if cache_disabled_by_environment() else ReadCache()
        self.cache: ReadCache | None = cache
        self._layers: dict[tuple[str, int | None], tuple[object, frozenset, bool]] = {}
        self._tables: dict[tuple, object] = {}
        self._read: set[Path] = set()
        self._hashes: dict[Path, str] = {}
        self._stats: dict[Path, tuple[int, int]] = {}
        self._ahead: dict[tuple[str, int | None], Future] = {}
        self._queued: list[tuple[str, int | None]] = []
        self._reader: ThreadPoolExecutor | None = None
        self._reader_ids: list[int] = []  # the reading thread's native id (see close)
        self.shapes = CheckedShapes()  # a snapshot's parcels that the last one had checked already

    def __repr__(self) -> str:
        held = ", ".join(f"{layer}{'' if year is None else f'@{year}'}" for layer, year in self._layers)
        return f"LayerStore({str(self.ws.root)!r}, layers=[{held}], cache={self.cache!r})"

    # -- layers --------------------------------------------------------------------------------

    def layer(self, layer: str, year: int | None = None, *, columns: list[str] | None = None,
              geometry: bool = True, report: Report | None = None, needed_for: str | None = None):
        """One layer of one year with standard fields (:func:`farmland.layers.read_layer`'s result)."""
        from ..layers import load_layer, wanted_fields

        report = report if report is not None else Report(strict=True)
        wanted = wanted_fields(layer, columns)
        key = (layer, year)
        unreadable = self._settle(key, report)
        self._read_next()
        if unreadable:
            return None
        if key in self._layers:
            frame, fields, has_geometry = self._layers[key]
            if set(wanted) <= fields and (has_geometry or not geometry):
                if not self.hold:  # a layer read ahead, handed over once
                    del self._layers[key]
                    return frame if geometry else _copy(frame, geometry)
                return _copy(frame, geometry)
            # A wider request replaces the narrower read: read the union once.
            wanted = wanted_fields(layer, sorted(set(wanted) | fields))
            geometry = geometry or has_geometry
        frame = load_layer(self.ws, layer, year, wanted, geometry, report, needed_for=needed_for,
                           parse=self.parse, shapes=self.shapes)
        if frame is None:
            return None
        if not self.hold:
            self._layers.pop(key, None)  # a narrower read ahead, replaced
            self._record_files(frame)
            return frame  # nobody else holds it: no copy needed
        self._keep(key, frame, wanted)
        return _copy(frame, geometry)

    def read_ahead(self, requests: list[tuple[str, int | None]]) -> None:
        """Read these layers (all standard fields and geometry, in this order) on a background
        thread while the caller works on earlier ones.

        Parsing, geometry decoding and the validity test release the GIL, so on a machine with a
        spare core the next snapshot is read while this one is checked. A layer read ahead is
        handed over, with its findings, when :meth:`layer` asks for it (findings of reads nobody
        asks for are dropped with them); one not started yet is read by the caller instead.

        Only :data:`READ_AHEAD_HELD` layers (:data:`READ_AHEAD` for a store that holds nothing)
        are read before the caller asks for them: checks are slower than reads, so an unbounded
        queue ran many snapshots ahead and held them all (450 MB of a 1M-parcel city's largest
        county while its first snapshot was checked). Asking for a layer skips those ordered
        before it that were not asked for.
        """
        if self._reader is None:
            ids = self._reader_ids
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="farmland-read-ahead",
                                              initializer=lambda: ids.append(threading.get_native_id()))
        self._queued += [key for key in requests if key not in self._layers and key not in self._ahead
                         and key not in self._queued]
        self._read_next()

    def _read_next(self) -> None:
        """Start reading queued layers until enough are read ahead and not yet asked for."""
        depth = READ_AHEAD_HELD if self.hold else READ_AHEAD
        while self._queued and len(self._ahead) < depth:
            key = self._queued.pop(0)
            if key not in self._layers:
                self._ahead[key] = self._reader.submit(self._read_ahead, *key)

    def _read_ahead(self, layer: str, year: int | None):
        from ..layers import load_layer, wanted_fields

        findings = Report(strict=False)
        frame = load_layer(self.ws, layer, year, wanted_fields(layer, None), True, findings, parse=self.parse,
                           shapes=self.shapes)
        return frame, findings

    def _settle(self, key, report: Report) -> bool:
        """Take over a read-ahead of ``key``: its frame into the store, its findings into ``report``.

        Returns True when the read ahead found the layer unreadable (its findings say why).
        """
        from ..layers import wanted_fields

        order = [*self._ahead, *self._queued]
        if key in order:  # layers ordered before it and not asked for are skipped, not held
            for earlier in order[:order.index(key)]:
                if earlier in self._ahead:
                    self._ahead.pop(earlier).cancel()
                else:
                    self._queued.remove(earlier)
            if key in self._queued:  # not started: the caller reads it
                self._queued.remove(key)
        future = self._ahead.pop(key, None)
        if future is None or future.cancel():
            return False
        frame, findings = future.result()
        if report.strict and findings.errors:
            return False  # read again by the caller, so the error is raised with its own exception class
        report.findings.extend(findings.findings)
        if frame is None:
            return True
        self._keep(key, frame, wanted_fields(key[0], None))
        return False

    def _keep(self, key, frame, wanted) -> None:
        """Hold a layer read for the run, and record the files it came from."""
        self._record_files(frame)
        self._layers[key] = (frame, frozenset(wanted), "geometry" in frame)

    def _record_files(self, frame) -> None:
        for name in frame.attrs.get("files", ()):
            self._record(Path(name))

    def close(self) -> None:
        """Stop reading ahead (reads in progress finish; queued ones are dropped). The reading
        thread is gone when this returns, from the operating system too, so the process may fork
        (:func:`farmland.parallel.until_exited`)."""
        from ..parallel import until_exited

        if self._reader is not None:
            self._reader.shutdown(wait=True, cancel_futures=True)
            self._reader = None
            until_exited(self._reader_ids)
            self._reader_ids.clear()
        self._ahead.clear()
        self._queued.clear()

    def parse(self, path: Path, layer_name: str | None, columns: list[str], read_geometry: bool,
              encoding: str | None):
        """One file's raw features (a :class:`farmland.layers.Parsed`), from the disk cache when it
        holds them."""
        from ..layers import parse_with_pyogrio

        if self.cache is None:
            return parse_with_pyogrio(path, layer_name, columns, read_geometry, encoding)
        key = self.content_key(path)
        parsed = self.cache.get(key, layer_name, encoding, columns, read_geometry)
        if parsed is not None:
            return parsed
        # Keep what an earlier run kept too, so runs asking for different fields share one entry.
        held, held_geometry = self.cache.held(key, layer_name, encoding)
        wider = list(dict.fromkeys([*columns, *(c for c in held if c not in columns)]))
        parsed = parse_with_pyogrio(path, layer_name, wider, read_geometry or held_geometry, encoding)
        self.cache.put(key, layer_name, encoding, parsed)
        return parsed.select(columns, read_geometry)

    # -- tables --------------------------------------------------------------------------------

    def table(self, layer: str, *, report: Report | None = None, needed_for: str | None = None):
        """A CSV table layer (ZBPH, CHECKLIST, EVENTS, CITYSTATS), read once (EVENTS with its
        ``level`` normalised: :func:`farmland.load.normalise.event_levels`)."""
        from ..layers import read_table
        from .normalise import event_levels

        def read(report):
            frame = read_table(self.ws, layer, report=report, needed_for=needed_for)
            return event_levels(frame, report) if layer == "EVENTS" and frame is not None else frame

        return self._table_once(("table", layer), read, report)

    def targets(self, *, report: Report | None = None):
        from ..layers import read_targets

        return self._table_once(("targets",), lambda r: read_targets(self.ws, report=r), report)

    def townships(self, *, report: Report | None = None):
        from ..layers import read_townships

        return self._table_once(("townships",), lambda r: read_townships(self.ws, report=r), report)

    def adjustments(self, unit_codes=None, *, report: Report | None = None):
        """The register of target adjustments (:func:`farmland.layers.read_adjustments`), checked
        against ``unit_codes``; read on each call, as the codes differ between stages."""
        from ..layers import read_adjustments

        frame = read_adjustments(self.ws, unit_codes, report=report)
        if frame is not None:
            self._record(self.ws.adjustments_path)
        return frame

    def _table_once(self, key, read, report):
        report = report if report is not None else Report(strict=True)
        if key not in self._tables:
            frame = read(report)
            self._tables[key] = frame
            if frame is not None and frame.attrs.get("file"):
                self._record(Path(frame.attrs["file"]))
        frame = self._tables[key]
        return None if frame is None else frame.copy()

    # -- what was read -------------------------------------------------------------------------

    def note(self, path: str | os.PathLike) -> None:
        """Record a file a stage read outside the store (a raster window, say)."""
        self._record(Path(path))

    def _record(self, path: Path) -> None:
        path = path if path.is_absolute() else self.ws.root / path
        self._read.update(content_files(path))

    def sha256(self, path: str | os.PathLike) -> str:
        """SHA-256 of a file's bytes, computed once per run (again if the file changed meanwhile)."""
        path = Path(path)
        stat = path.stat()
        signature = (stat.st_size, stat.st_mtime_ns)
        if self._stats.get(path) != signature:
            self._hashes[path] = sha256_of(path)
            self._stats[path] = signature
        return self._hashes[path]

    def content_key(self, path: Path) -> str:
        """One hash for everything GDAL reads as ``path`` (a Shapefile's sidecars, a FileGDB)."""
        files = content_files(path)
        if files == [path]:
            return self.sha256(path)
        parts = "\n".join(f"{f.relative_to(path.parent).as_posix()}\t{self.sha256(f)}" for f in files)
        return hashlib.sha256(parts.encode("utf-8")).hexdigest()

    def files_read(self) -> dict[Path, str]:
        """Every file read so far, with its SHA-256, in path order."""
        return {path: self.sha256(path) for path in sorted(self._read)}

    def record(self) -> tuple[set[Path], dict[Path, str], dict[Path, tuple[int, int]]]:
        """What this store read and hashed: for a stage that ran in another process
        (:mod:`farmland.parallel`) to hand back with :meth:`add_record`."""
        return set(self._read), dict(self._hashes), dict(self._stats)

    def add_record(self, record) -> None:
        """Take over the files another copy of this store read (:meth:`record`), so the manifest
        lists them; the layers themselves stay there and are read again if asked for here."""
        read, hashes, stats = record
        self._read.update(read)
        for path, digest in hashes.items():
            if path not in self._hashes:
                self._hashes[path] = digest
                self._stats[path] = stats[path]


def _copy(frame, geometry: bool):
    """A frame of its own for one caller, without copying what copy-on-write already protects.

    pandas copies a column of a shallow copy before the first write to it, so only extension
    arrays (the geometry, the categorical file column), which a caller can write into in place,
    are copied: 10× cheaper than a deep copy of a snapshot, read by every stage.
    """
    if geometry or "geometry" not in frame:
        served = frame.copy(deep=False)  # attrs: pandas copies them deeply
    else:
        served = pd.DataFrame(frame.drop(columns="geometry"))
        served.attrs = copy.deepcopy(frame.attrs)
    for name, dtype in served.dtypes.items():
        if isinstance(dtype, pd.api.extensions.ExtensionDtype):
            served[name] = served[name].copy()
    return served
