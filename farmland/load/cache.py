"""A disk cache of parsed input files, as Parquet, keyed by the file's content hash.

Parsing a county's GeoPackage or FileGDB is most of what reading costs; a second command, phase
or year on the same workspace reads the parsed columns back from Parquet instead (columnar, row
groups of 64k rows), which is several times faster and reads only the columns asked for. The
shapes are kept as WKB, as GeoParquet stores them by default, and stay WKB until the loader
decodes them, as from a parsed file (:class:`farmland.layers.Parsed`).

The key is the SHA-256 of the file's bytes (for a Shapefile: of every file sharing its stem; for
a FileGDB folder: of every file in it), the layer inside the file and the text encoding it was
decoded with, so a changed file can never be served: its bytes give another key. What the
loader does after parsing (field names, codes, checks, findings) runs on every read, cached or
not, so findings are the same either way.

Location: ``$FARMLAND_CACHE_DIR``, else the user cache folder (``~/.cache/farmland`` on Linux,
``%LOCALAPPDATA%\\farmland\\Cache`` on Windows, ``~/Library/Caches/farmland`` on macOS). The
oldest entries are removed when it grows past ``$FARMLAND_CACHE_MAX_GB`` (default 20). Set
``FARMLAND_NO_CACHE=1`` or pass ``--no-cache`` to bypass it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path


FORMAT = 2
"""Version of the entry layout; bump to orphan entries of an older layout."""

ROW_GROUP_ROWS = 65_536
"""Row group size of the entries: small groups read ~2.7× faster than one big group."""

_GIB = 1 << 30

_SHAPES = "farmland:wkb"
"""The column of an entry that holds the shapes (a name no GIS field can have)."""


def default_cache_dir() -> Path:
    """``$FARMLAND_CACHE_DIR``, else the platform's per-user cache folder for farmland."""
    configured = os.environ.get("FARMLAND_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / "farmland" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "farmland"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "farmland"


def cache_disabled_by_environment() -> bool:
    return os.environ.get("FARMLAND_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no")


def content_files(path: Path) -> list[Path]:
    """The files whose bytes make up ``path`` as GDAL reads it: a Shapefile's sidecars, a
    FileGDB's folder."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if path.suffix.lower() == ".shp":
        return sorted(p for p in path.parent.glob(f"{glob.escape(path.stem)}.*") if p.is_file())
    return [path]


HASH_CHUNK = 1 << 23
"""Bytes read and hashed at a time. With the disk cache, the reading thread hashes each file
(its cache key) while validation's checks run: reading and hashing let the checks run, but each
chunk takes the interpreter lock back twice, and the checks hold it for up to 5 ms at a time.
8 MB chunks into one reused buffer keep a run's hashing (650 MB for a 300k-parcel city) from
waiting on that ~80 times, not ~650."""


def sha256_of(path: str | os.PathLike) -> str:
    """SHA-256 of one file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        buffer = bytearray(max(1, min(HASH_CHUNK, os.fstat(fh.fileno()).st_size)))  # a small file, a small buffer
        view = memoryview(buffer)
        while size := fh.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()


@dataclass(frozen=True)
class Entry:
    """Where a parsed read lives in the cache, and what it holds."""

    data: Path
    meta: Path


class ReadCache:
    """Parsed reads of input files, kept as Parquet under ``folder``.

    Parameters
    ----------
    folder : path, optional
        Default: :func:`default_cache_dir`.
    max_bytes : int, optional
        Size beyond which the least recently used entries are removed after a write
        (default ``$FARMLAND_CACHE_MAX_GB`` GiB, 20).
    """

    def __init__(self, folder: str | os.PathLike | None = None, *, max_bytes: int | None = None):
        self.folder = Path(folder) if folder is not None else default_cache_dir()
        if max_bytes is None:
            max_bytes = int(float(os.environ.get("FARMLAND_CACHE_MAX_GB", "20")) * _GIB)
        self.max_bytes = max_bytes
        self._size: int | None = None  # bytes held, scanned once and then kept up to date by put()
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"ReadCache({str(self.folder)!r}, hits={self.hits}, misses={self.misses})"

    def _entry(self, content_key: str, layer_name: str | None, encoding: str | None) -> Entry:
        name = hashlib.sha256(json.dumps([FORMAT, content_key, layer_name, encoding]).encode()).hexdigest()
        folder = self.folder / f"v{FORMAT}" / name[:2]
        return Entry(folder / f"{name}.parquet", folder / f"{name}.json")

    def get(self, content_key: str, layer_name: str | None, encoding: str | None, columns: list[str],
            geometry: bool):
        """The parsed features (:class:`farmland.layers.Parsed`) with ``columns`` (and the shapes
        if asked), or None when the entry does not hold them (or is unreadable: it is dropped and
        the file parsed again)."""
        entry = self._entry(content_key, layer_name, encoding)
        try:
            meta = json.loads(entry.meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.misses += 1
            return None
        if not set(columns) <= set(meta["columns"]) or (geometry and not meta["geometry"]):
            self.misses += 1
            return None
        try:
            parsed = _read_entry(entry.data, columns, geometry)
        except Exception:  # a truncated or foreign file: parse the source instead
            self._drop(entry)
            self.misses += 1
            return None
        os.utime(entry.meta)  # least recently used goes first when the cache is pruned
        self.hits += 1
        return parsed

    def held(self, content_key: str, layer_name: str | None, encoding: str | None) -> tuple[list[str], bool]:
        """(columns, has geometry) of the entry, so a wider read can replace a narrower one."""
        entry = self._entry(content_key, layer_name, encoding)
        try:
            meta = json.loads(entry.meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return [], False
        return list(meta["columns"]), bool(meta["geometry"])

    def put(self, content_key: str, layer_name: str | None, encoding: str | None, parsed) -> None:
        """Keep a file's parsed features (:class:`farmland.layers.Parsed`). Failures (disk full,
        read-only folder) only cost the speed-up."""
        entry = self._entry(content_key, layer_name, encoding)
        token = uuid.uuid4().hex
        data_tmp = entry.data.with_name(f".{entry.data.name}.{token}")
        meta_tmp = entry.meta.with_name(f".{entry.meta.name}.{token}")
        geometry = parsed.wkb is not None
        columns = [str(c) for c in parsed.frame.columns]
        try:
            entry.data.parent.mkdir(parents=True, exist_ok=True)
            _write_entry(parsed, data_tmp)
            meta_tmp.write_text(json.dumps({"columns": columns, "geometry": geometry,
                                            "rows": len(parsed.frame)}),
                                encoding="utf-8")
            # Data first: a reader that finds the metadata finds the data it describes.
            os.replace(data_tmp, entry.data)
            os.replace(meta_tmp, entry.meta)
        except Exception:
            for tmp in (data_tmp, meta_tmp):
                _remove(tmp)
            return
        # The folder is scanned once per instance, not after every write (a run writes ~160 entries).
        self._size = (self.size() if self._size is None else self._size + _entry_size(entry.meta))
        if self._size > self.max_bytes:
            self.prune()

    def _drop(self, entry: Entry) -> None:
        for path in (entry.meta, entry.data):
            _remove(path)

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())

    def prune(self) -> None:
        """Remove the least recently used entries while the cache is larger than ``max_bytes``."""
        metas = list(self.folder.rglob("*.json"))
        sizes = {m: _entry_size(m) for m in metas}
        total = sum(sizes.values())
        for meta in sorted(metas, key=lambda m: m.stat().st_mtime):
            if total <= self.max_bytes:
                break
            self._drop(Entry(meta.with_suffix(".parquet"), meta))
            total -= sizes[meta]
        self._size = total

    def clear(self) -> int:
        """Remove every entry; return the bytes freed."""
        freed = 0
        for meta in list(self.folder.rglob("*.json")):
            freed += _entry_size(meta)
            self._drop(Entry(meta.with_suffix(".parquet"), meta))
        self._size = 0
        return freed


def _remove(path: Path) -> None:
    # Not only a missing file: a folder that cannot exist (its path runs through a file) raises
    # NotADirectoryError, and a cache that cannot be written must only cost the speed-up.
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _entry_size(meta: Path) -> int:
    try:
        return meta.stat().st_size + meta.with_suffix(".parquet").stat().st_size
    except OSError:
        return 0


def _write_entry(parsed, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(parsed.frame, preserve_index=False)
    if parsed.wkb is not None:
        table = table.append_column(_SHAPES, parsed.wkb)
    pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS)


def _read_entry(path: Path, columns: list[str], geometry: bool):
    import pyarrow.parquet as pq

    from ..layers import Parsed, wkb_array

    table = pq.read_table(path, columns=[*columns, *([_SHAPES] if geometry else [])])
    if not geometry:
        return Parsed(table.to_pandas(), None)
    return Parsed(table.drop_columns([_SHAPES]).to_pandas(), wkb_array(table.column(_SHAPES)))
