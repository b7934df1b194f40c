"""``provscan report OUT``: re-render a finished OUT's report.html and datacard.md.

Rendering is the sinks' business (:mod:`provscan.sinks.report`); writing into OUT is the runner's, under
the same lock and checks as every command that writes OUT (:class:`provscan.pipeline.outdir.OutputDir`).
This module joins the two, so the sinks never import the floor above them.
"""

from __future__ import annotations

from pathlib import Path

from provscan.errors import OutputError
from provscan.pipeline.outdir import OutputDir
from provscan.sinks.report import DATACARD, REPORT, read_documents, write_reports


def regenerate(out: Path, report: Path | None = None) -> list[Path]:
    """``provscan report``: re-render a finished OUT; an OUT without manifest.json is an error.

    Without ``report``: OUT's report.html and datacard.md, under OUT's lock and checks like any
    command that writes OUT. With ``report``: that one file and nothing else (a datacard.md beside
    it may be the maintainers' own card); a file inside OUT only as OUT/report.html."""
    out = Path(out)
    read_documents(out)  # the clear error first, before any lock is taken
    html = out / REPORT if report is None else Path(report)
    inside = out.resolve() in html.resolve().parents
    if not inside:
        return write_reports(out, *read_documents(out), report=html, datacard=False)
    if html.resolve() != (out / REPORT).resolve():
        raise OutputError(
            html,
            f"is inside the output directory {out}: provscan report writes only {REPORT} and "
            f"{DATACARD} there (give -o a path outside it)",
        )
    with OutputDir(out, writes=[out / REPORT, out / DATACARD], transient=True):
        return write_reports(out, *read_documents(out), datacard=report is None)
