"""The load stage: each input read once per run into a :class:`LayerStore` that every stage uses.

``LayerStore`` reads layers with standard fields (:mod:`farmland.layers` does the parsing and
checking of one file), keeps them for the run and records every file read with its SHA-256;
``ReadCache`` keeps parsed files as GeoParquet between runs, keyed by their content hash.
"""

from .cache import ReadCache, default_cache_dir
from .store import LayerStore

__all__ = ["LayerStore", "ReadCache", "default_cache_dir"]
