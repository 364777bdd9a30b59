"""Printing report pages to PDF with headless Chromium (Debian package ``chromium``).

One browser prints every page of a run over the DevTools protocol on a pipe (no network port, no
extra Python package): ~0.2 s a page after a ~1 s start. The pages carry their own font, so the
PDF embeds exactly the glyphs used and needs no system font. PDF dates are fixed so the same
pages give the same bytes.

Without Chromium the step is skipped with a message saying how to install it; the HTML pages are
written either way.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from ..errors import FarmlandError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
INSTALL_HOW = ("Install it (Debian/Ubuntu: apt-get install -y chromium) or set FARMLAND_CHROMIUM to the browser "
               "executable")
"""How to make Chromium available (the end of :data:`INSTALL_HINT` and of :data:`NOT_FOUND`)."""
INSTALL_HINT = f"PDF not written: Chromium was not found. {INSTALL_HOW}; the HTML pages were written."
"""The notice of a run that prints when it can and could not."""
NOT_FOUND = (f"Chromium was not found to print the PDFs. {INSTALL_HOW}, or run without --pdf (in Python, without "
             "pdf=True) to write the HTML pages alone; nothing was written.")
"""The error of a run that was asked to print (``--pdf``) and cannot."""


class BrowserError(FarmlandError, RuntimeError):
    """Chromium could not print a page (not found, crashed, or too slow to answer): the user can
    act on it, so the command says what happened and how to go on rather than reporting a bug."""


def require_chromium() -> str:
    """The Chromium executable (:func:`find_chromium`); :class:`BrowserError` saying how to install
    it when there is none."""
    executable = find_chromium()
    if executable is None:
        raise BrowserError(NOT_FOUND)
    return executable


def find_chromium() -> str | None:
    """The Chromium executable: ``$FARMLAND_CHROMIUM``, else the first of :data:`CANDIDATES` on PATH."""
    configured = os.environ.get("FARMLAND_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() or shutil.which(configured) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


_DATES = re.compile(rb"(/(?:CreationDate|ModDate) ?\(D:)(\d{14})")
_NODE_IDS = re.compile(rb"\(node(\d{8})\)")


def normalize_pdf(data: bytes) -> bytes:
    """Same page, same bytes: fixed dates, and the tagged-PDF element ids (DOM node numbers, which
    depend on what the browser loaded before) replaced by their rank, which keeps their order (the
    structure's name tree is sorted by them). Replacements keep their length, so the
    cross-reference offsets stay valid."""
    data = _DATES.sub(rb"\g<1>20000101000000", data)
    ranks = {old: b"%08d" % rank for rank, old in enumerate(sorted(set(_NODE_IDS.findall(data))), 1)}
    return _NODE_IDS.sub(lambda m: b"(node" + ranks[m.group(1)] + b")", data)


#: Links between pages are for the HTML; in a PDF they would point at the folder it was printed
#: in (file://…), which differs from run to run and from where the files end up.
_UNLINK = "document.querySelectorAll('a[href]').forEach(a => a.removeAttribute('href'))"


class Chromium:
    """A headless Chromium driven over ``--remote-debugging-pipe`` (fds 3 and 4)."""

    def __init__(self, executable: str | None = None, timeout: float = 60.0):
        executable = executable or require_chromium()
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="farmland-chromium-")
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # The protocol wants the pipe on the child's fds 3 (commands in) and 4 (replies out). Bash
        # moves them there before exec'ing the browser (no preexec_fn: reports print from a
        # worker thread, where forking with Python code to run is unsafe). Ends kept above 9 so
        # the moves cannot overwrite one another.
        child_in, child_out = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser_r, from_browser_w))
        os.close(to_browser_r)
        os.close(from_browser_w)
        to_browser_r, from_browser_w = child_in, child_out

        args = ["--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--mute-audio", "--hide-scrollbars", f"--user-data-dir={self._profile.name}", "about:blank"]
        script = f'exec "$0" "$@" 3<&{child_in} 4>&{child_out} {child_in}<&- {child_out}>&-'
        shell = shutil.which("bash") or "/bin/sh"  # dash cannot redirect fds above 9
        self._proc = subprocess.Popen([shell, "-c", script, executable, *args], pass_fds=(child_in, child_out),
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._out = to_browser_w
        self._in = from_browser_r
        self._buffer = b""
        self._id = 0
        try:
            target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            self._call("Page.enable", session=self._session)
        except Exception:
            self.close()
            raise

    # -- protocol ----------------------------------------------------------------------------

    def _send(self, method: str, params: dict | None, session: str | None) -> int:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode("utf-8") + b"\0"
        while data:
            written = os.write(self._out, data)
            data = data[written:]
        return self._id

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._in], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed the connection (crashed or was killed)")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def _call(self, method: str, params: dict | None = None, session: str | None = None,
              wait_event: str | None = None) -> dict:
        deadline = time.monotonic() + self.timeout
        wanted = self._send(method, params, session)
        result, seen_event = None, wait_event is None
        while result is None or not seen_event:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message', message['error'])}")
                result = message.get("result", {})
            elif wait_event and message.get("method") == wait_event and message.get("sessionId") == session:
                seen_event = True
        return result

    # -- printing ----------------------------------------------------------------------------

    def print_pdf(self, html_path: str | os.PathLike) -> bytes:
        """The PDF of a page (A4 from the page's own ``@page`` rule, backgrounds printed)."""
        url = Path(html_path).resolve().as_uri()
        self._call("Page.navigate", {"url": url}, session=self._session, wait_event="Page.loadEventFired")
        self._call("Runtime.evaluate", {"expression": _UNLINK}, session=self._session)
        # Untagged: the tags carry DOM node numbers that change from load to load, and the same
        # page must give the same bytes (the manifest compares runs).
        printed = self._call("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True,
                                                 "displayHeaderFooter": False, "generateTaggedPDF": False},
                             session=self._session)
        return normalize_pdf(base64.b64decode(printed["data"]))

    def close(self) -> None:
        try:
            if self._proc.poll() is None:
                try:
                    self._send("Browser.close", None, None)
                    self._proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    self._proc.kill()
                    self._proc.wait()
        finally:
            for fd in (getattr(self, "_out", None), getattr(self, "_in", None)):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._out = self._in = None
            self._profile.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def print_pages(pages: Iterable[tuple[Path, Path]], *, progress=None) -> int:
    """Print each ``(html, pdf)`` pair with one browser; returns the number printed.

    Raises :class:`BrowserError` (with :data:`NOT_FOUND`) when Chromium is not installed.
    """
    pages = list(pages)
    if not pages:
        return 0
    with Chromium() as browser:
        for done, (html_path, pdf_path) in enumerate(pages, 1):
            Path(pdf_path).write_bytes(browser.print_pdf(html_path))
            if progress is not None:
                progress(done, len(pages))
    return len(pages)
