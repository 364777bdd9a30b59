"""Findings about input data, collected or raised.

Loading and validation share one mechanism: every problem becomes a :class:`Finding` (severity,
layer, file, field, the first ids and a count, and the fix). ``farmland validate`` collects them
all and prints a report; every other command runs strict, so the first error stops the run with
the same message, and warnings are shown to the user.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import FarmlandError, LayerError, preview_ids

ERROR = "error"
WARNING = "warning"
INFO = "info"


def shown_path(path) -> str:
    """A file as messages name it: relative to the working folder when inside it, else in full.

    County databases share their base names (counties/371521/bgdc_2018.gpkg), so the base name
    alone would not say which county's file is wrong.
    """
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Finding:
    """One problem (or notable fact) about the inputs."""

    severity: str
    layer: str
    check: str
    message: str
    file: str = ""
    year: int | None = None
    field: str = ""
    count: int = 0
    ids: tuple[str, ...] = ()

    def render(self) -> str:
        where = self.layer + (f" {self.year}" if self.year is not None else "")
        return f"[{self.severity}] {where}: {self.message}"


@dataclass
class Report:
    """Collects findings; in strict mode an error is raised as soon as it is found.

    Parameters
    ----------
    strict : bool
        Raise the error's exception class immediately (commands other than ``validate``).
    """

    strict: bool = True
    findings: list[Finding] = field(default_factory=list)

    def add(
        self,
        severity: str,
        layer: str,
        check: str,
        message: str,
        *,
        file: object = "",
        year: int | None = None,
        field: str = "",
        ids: Iterable[object] = (),
        count: int | None = None,
        exc: type[FarmlandError] = LayerError,
    ) -> Finding:
        """Record a finding; ``ids`` are previewed in the message (first five and a count)."""
        ids = [str(i) for i in ids]
        if ids:
            message = f"{message} Ids: {preview_ids(ids)}."
        finding = Finding(
            severity=severity,
            layer=layer,
            check=check,
            message=message,
            file=str(file),
            year=year,
            field=field,
            count=len(ids) if count is None else count,
            ids=tuple(ids[:20]),
        )
        self.findings.append(finding)
        if self.strict and severity == ERROR:
            raise exc(finding.render().removeprefix("[error] "))
        return finding

    def error(self, layer: str, check: str, message: str, **kw) -> Finding:
        return self.add(ERROR, layer, check, message, **kw)

    def warning(self, layer: str, check: str, message: str, **kw) -> Finding:
        return self.add(WARNING, layer, check, message, **kw)

    def info(self, layer: str, check: str, message: str, **kw) -> Finding:
        return self.add(INFO, layer, check, message, **kw)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors
