"""Manifests and ``farmland verify``: prove that a published output came from given inputs.

Every ``audit``, ``sample-check`` and ``assess`` output folder holds ``manifest.json``: the
command and its parameters, the workspace (its path and the SHA-256 of every input file, the
workspace file and the rule sets), the software versions, and the SHA-256 of every output file.
:func:`verify_output` re-checks all of them and, unless told not to, runs the command again
into a temporary folder and compares what it writes with what is there, naming each file that
differs and how (missing, extra, other bytes; for CSV files the first differing line).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import WorkspaceError
from ..load.cache import sha256_of

MANIFEST = "manifest.json"
PACKAGES = ("farmland", "numpy", "pandas", "shapely", "pyproj", "pyogrio", "geopandas", "rasterio")


def software_versions() -> dict[str, str]:
    from importlib.metadata import version

    import pyogrio

    return {"python": platform.python_version(), "gdal": pyogrio.__gdal_version_string__,
            **{name: version(name) for name in PACKAGES}}


def input_hashes(ws, store=None) -> dict[str, str]:
    """SHA-256 of every file the workspace names (all layers of all years), by relative path.

    With the run's :class:`~farmland.load.LayerStore`, files it read are not hashed again.
    """
    from ..pipeline import _input_files

    digest = store.sha256 if store is not None else sha256_of
    return {_relative(path, ws.root): digest(path) for path in _input_files(ws)}


def output_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256_of(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def write_manifest(folder: Path, ws, command: str, parameters: dict, *, extra: dict | None = None,
                   extra_inputs=(), store=None) -> dict:
    """Write ``manifest.json`` into ``folder`` (after every other output is in it).

    ``extra_inputs`` are files read besides the workspace's (a declared-figures table), recorded
    by absolute path. ``store``: the run's layer store, whose hashes are reused.
    """
    inputs = input_hashes(ws, store)
    inputs.update({str(Path(p).resolve()): sha256_of(p) for p in extra_inputs})
    manifest = {
        "command": command,
        "parameters": parameters,
        "workspace": str(ws.file.name),
        "workspace_path": str(Path(ws.root).resolve()),
        "city": {"code": ws.city_code, "name": ws.city_name},
        "period": {"start": ws.period.start, "end": ws.period.end, "base_year": ws.period.base_year},
        "land_class_table": ws.land_classes.version,
        "inputs_sha256": inputs,
        "software": software_versions(),
        **(extra or {}),
        "outputs_sha256": output_hashes(folder),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                   encoding="utf-8")
    return manifest


def _relative(path: Path, root: Path) -> str:
    path = Path(path)
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


# -- verify ----------------------------------------------------------------------------------------


@dataclass
class Difference:
    """One file that does not match: which, where (input, output, rule set) and how."""

    where: str
    path: str
    how: str

    def render(self) -> str:
        return f"{self.where} {self.path}: {self.how}"


@dataclass
class Verification:
    """Outcome of :func:`verify_output` (``ok`` when nothing differs)."""

    folder: Path
    command: str
    checked: int = 0
    rerun: bool = False
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def render(self) -> str:
        lines = [f"核验 verify {self.folder} ({self.command}): {self.checked} files checked"
                 + ("; computation re-run and compared" if self.rerun else "")]
        for d in self.differences:
            lines.append(f"  - {d.render()}")
        lines.append("结果 result: OK, every hash matches" + (" and the re-run reproduces every output." if self.rerun
                                                               else ".") if self.ok else
                     f"结果 result: {len(self.differences)} difference(s).")
        return "\n".join(lines)


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise WorkspaceError(f"{folder} has no {MANIFEST}; verify needs the folder an audit, sample-check or "
                             "assess run wrote.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{path} is not valid JSON ({exc}); the manifest itself was altered.") from None


def verify_output(folder: str | os.PathLike, *, workspace: str | os.PathLike | None = None,
                  rerun: bool = True, progress=None) -> Verification:
    """Re-check every SHA-256 of a run's manifest and (``rerun``) reproduce its outputs.

    Parameters
    ----------
    folder : path
        An output folder of ``audit``, ``sample-check`` or ``assess``.
    workspace : path, optional
        Where the inputs are now (default: the path recorded in the manifest).
    rerun : bool, default True
        Run the command again with the recorded parameters into a temporary folder and compare
        each output file byte for byte.
    """
    from ..workspace import Workspace

    folder = Path(folder)
    manifest = read_manifest(folder)
    command = manifest.get("command", "assess")
    result = Verification(folder=folder, command=command)
    # Outputs: every file listed must be there with its hash, and nothing else.
    listed = manifest.get("outputs_sha256", {})
    result.differences += _compare("output", listed, output_hashes(folder), "missing",
                                   "not in the manifest (added after the run)")
    result.checked += len(listed)
    root = Path(workspace) if workspace is not None else Path(manifest.get("workspace_path", ""))
    ws_file = root / manifest.get("workspace", "farmland.toml") if root.is_dir() else root
    if not ws_file.exists():
        raise WorkspaceError(f"the workspace {ws_file} of this run is not there; give its current place with "
                             "--workspace.")
    ws = Workspace.load(ws_file)
    inputs = manifest.get("inputs_sha256", {})
    now = input_hashes(ws)
    now.update({path: sha256_of(path) for path in inputs if Path(path).is_absolute() and Path(path).is_file()})
    result.differences += _compare("input", inputs, now, "missing from the workspace",
                                   "new input not in the manifest")
    result.checked += len(inputs)
    if command == "sample-check" and not result.ok and (folder / "population.csv").exists():
        from .sampling import population_changes

        changes = population_changes(folder, ws, int(manifest["parameters"]["year"]))
        result.differences += [Difference("population", f"DLTB:{b}", f"parcel {c} since the draw (the population "
                                          "hash, and so the sample, would differ)")
                               for b, c in zip(changes["BSM"], changes["change"], strict=True)]
    if rerun and result.ok:
        result.rerun = True
        with tempfile.TemporaryDirectory(prefix=".verify-", dir=folder.parent) as tmp:
            again = Path(tmp) / folder.name
            _rerun(command, manifest.get("parameters", {}), ws, again, progress,
                   pdf=None if any(path.endswith(".pdf") for path in listed) else False)
            redone = output_hashes(again)
            for path, digest in sorted(listed.items()):
                if path not in redone:
                    result.differences.append(Difference("re-run", path, "not produced by the re-run"))
                elif redone[path] != digest:
                    result.differences.append(Difference("re-run", path, describe_change(folder / path, again / path)))
            for path in sorted(set(redone) - set(listed)):
                result.differences.append(Difference("re-run", path, "produced by the re-run but not in the manifest"))
            shutil.rmtree(again, ignore_errors=True)
    return result


def _compare(where: str, recorded: dict, present: dict, missing: str, extra: str) -> list[Difference]:
    """Files recorded but absent or with other bytes, and files present but never recorded."""
    out = []
    for path, digest in sorted(recorded.items()):
        if path not in present:
            out.append(Difference(where, path, missing))
        elif present[path] != digest:
            out.append(Difference(where, path, f"changed: SHA-256 {present[path][:12]}… ≠ recorded {digest[:12]}…"))
    out += [Difference(where, path, extra) for path in sorted(set(present) - set(recorded))]
    return out


def describe_change(recorded: Path, redone: Path) -> str:
    """How two versions of one output differ: for text, the first differing line."""
    a, b = recorded.read_bytes(), redone.read_bytes()
    if recorded.suffix.lower() in (".csv", ".txt", ".json", ".html"):
        left = a.decode("utf-8-sig", errors="replace").splitlines()
        right = b.decode("utf-8-sig", errors="replace").splitlines()
        for i, (x, y) in enumerate(zip(left, right, strict=False)):
            if x != y:
                return f"the re-run differs from line {i + 1}: {x[:120]!r} (published) vs {y[:120]!r} (re-run)"
        return f"the re-run has {len(right)} lines, the published file {len(left)}"
    return f"the re-run writes other bytes ({len(b)} bytes vs {len(a)} published)"


def _rerun(command: str, parameters: dict, ws, out: Path, progress, *, pdf: bool | None = None) -> None:
    """Run the recorded command again into ``out``; ``pdf`` as :func:`farmland.pipeline.write_assessment`'s
    (False for an ``assess --no-pdf`` run, which listed no PDF)."""
    if command == "audit":
        from . import AuditOptions, audit_workspace, write_audit

        declared = parameters.get("declared")
        result = audit_workspace(ws, int(parameters["year"]), options=AuditOptions.from_dict(parameters.get("options", {})),
                                 checks=parameters.get("checks"), declared=declared, progress=progress)
        write_audit(result, out, parameters={k: v for k, v in parameters.items()
                                             if k not in ("year", "checks", "options")})
    elif command == "sample-check":
        from .sampling import draw_sample, write_sample

        sample = draw_sample(ws, int(parameters["year"]), seed=int(parameters["seed"]),
                             aql=float(parameters["aql"]), suspects=parameters.get("suspects", True),
                             progress=progress)
        write_sample(sample, out)
    elif command == "assess":
        from ..pipeline import assess, write_assessment

        rules_dir = parameters.get("rules_dir")
        write_assessment(assess(ws, progress=progress, rules_dir=rules_dir,
                                by_county=bool(parameters.get("by_county"))), out, pdf=pdf)
    else:
        raise WorkspaceError(f"the manifest names command {command!r}, which verify cannot re-run.")
