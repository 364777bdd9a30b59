"""Time of rendering every report of the bundled sample (cards, summaries, PDFs, lists, Word).

Run under ``/usr/bin/time -v`` for the peak memory:

    /usr/bin/time -v python benchmarks/bench_reports.py [--pdf-checks all]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from farmland.pipeline import assess
from farmland.reports import write_reports

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "liaocheng"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pdf-checks", choices=["current", "all"], default="all")
    args = parser.parse_args()
    started = time.perf_counter()
    assessment = assess(SAMPLE)
    assessed = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        written = write_reports(assessment, folder, pdf_checks=args.pdf_checks)
        done = time.perf_counter()
    print(f"assess {assessed - started:.1f} s; reports {done - assessed:.1f} s: {len(written.html)} pages, "
          f"{len(written.pdf)} PDFs, {len(written.other)} lists and Word documents"
          + (f"; {written.notices[0]}" if written.notices else ""))


if __name__ == "__main__":
    main()
