"""PDF of a watch list by headless Chromium's print to PDF (private).

Chromium (Debian's ``chromium``; ``make chromium`` installs it) is used rather
than WeasyPrint, measured side by side in ``benchmarks/bench_watchlists.py``
(``--only=pdf``; figures in ``docs/watchlists.md``): both printed every list
without failure, on A4, with every pupil once, no row split across pages and the
Latvian letters intact, at similar speed; WeasyPrint's files are smaller and
byte-identical between prints (Chromium's differ in dates and structure ids, the
drawing is the same). Chromium is kept because it drew the page as designed
where WeasyPrint silently did not (the hatched "lowers risk" bars came out solid
black, i.e. "raises risk" in black and white, until the CSS was rewritten for
it), and because it is the engine the browser test checks the page in, so the
PDF is the page as tested.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import ConfigError

__all__ = ["print_pdf"]


def print_pdf(html: str | Path, pdf: str | Path, *, timeout: float = 120.0) -> Path:
    """Print ``html`` (a file) to ``pdf`` with headless Chromium (A4 from the page's CSS)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise ConfigError("PDFs of the watch lists need Chromium: install it with "
                          "`apt-get install -y chromium` (or `make chromium`), or leave out --pdf.")
    pdf = Path(pdf)
    with tempfile.TemporaryDirectory() as profile:
        part = pdf.with_name(pdf.name + ".part")
        res = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                              f"--user-data-dir={profile}", "--no-pdf-header-footer",
                              f"--print-to-pdf={part}", Path(html).resolve().as_uri()],
                             capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0 or not part.is_file():
            raise RuntimeError(f"Chromium could not print {html}: {res.stderr[-500:]}")
        part.replace(pdf)
    return pdf
