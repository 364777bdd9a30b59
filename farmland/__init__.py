"""farmland: reproducible, auditable farmland-protection responsibility assessment.

Data flows one way: load → validate → metrics → scoring → reports. The command line
(``farmland``) and notebooks are thin layers over this library.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("farmland")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

from .errors import (  # noqa: E402
    CRSError,
    DataFileError,
    FarmlandError,
    GeometryError,
    LayerError,
    OutputError,
    RuleError,
    WorkspaceError,
)
from .workspace import Workspace  # noqa: E402

__all__ = [
    "CRSError",
    "DataFileError",
    "FarmlandError",
    "GeometryError",
    "LayerError",
    "OutputError",
    "RuleError",
    "Workspace",
    "WorkspaceError",
    "__version__",
]
