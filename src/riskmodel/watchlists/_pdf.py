"""PDF of a watch list by headless Chromium's print to PDF (private).

Chromium (Debian's ``chromium``; ``make chromium`` installs it) is used rather
than WeasyPrint: it is the engine the browser test already checks the page in,
so the PDF is the page as tested; see ``docs/watchlists.md`` for the measurement.
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
