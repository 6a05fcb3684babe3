"""The report as a client sees it: drawn by a real browser with the network off, and as a PDF.

Chromium (Debian's package) renders the HTML headless, its proxy pointed at a loopback listener
that records every connection: the page must make none, and the screenshot must show the diagram's
four boxes where the layout puts them. Control pages prove each check can fail: one without the
SVG shows no box, one with a remote image does reach the listener.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from redundo.report import BOX_COLOURS, html_report
from redundo.settings import read_stack_file
from tests.conftest import SERVICE, SSH_KEY, STACKS

# Chromium's browser process calls Google's services (component updates, network time, sign-in)
# whatever the flags; those are not the page's requests, and nothing answers them here anyway.
# Google Fonts is what a page would load from those domains: it stays counted.
BROWSER_OWN = (b".google.com", b".googleapis.com", b".gstatic.com", b".gvt1.com")
PAGE_HOSTS = (b"fonts.googleapis.com", b"fonts.gstatic.com")


def _browser_own(request_line: bytes) -> bool:
    parts = request_line.split()
    target = parts[1] if len(parts) > 1 else b""
    host = target.split(b"://", 1)[-1].split(b"/", 1)[0].split(b":", 1)[0]
    return host not in PAGE_HOSTS and any(host.endswith(suffix) for suffix in BROWSER_OWN)


def _tool(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail(f"{names[0]} is not installed; .ci/run must install it (.ci/apt.d/report.txt)")
    pytest.skip(f"{names[0]} is not installed")


class _Listener:
    """A loopback TCP listener that records each connection's first bytes and closes it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.seen: list[bytes] = []
        """The request line of each connection, Chromium's own services left out."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    line = conn.recv(300).split(b"\r\n")[0]
                except OSError:
                    line = b"(nothing sent)"
                if not _browser_own(line):
                    self.seen.append(line)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def _screenshot(html: str, tmp_path: Path, name: str, proxy_port: int) -> Path:
    """Render `html` in headless Chromium with every network path closed; return the PNG."""
    chromium = _tool("chromium", "chromium-browser")
    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    png = tmp_path / f"{name}.png"
    profile = tmp_path / f"{name}-profile"
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-default-apps",
            "--disable-extensions",
            "--no-default-browser-check",
            "--force-color-profile=srgb",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--proxy-server=127.0.0.1:{proxy_port}",
            "--proxy-bypass-list=<-loopback>",
            "--window-size=1000,1400",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and png.is_file(), done.stderr[-2000:]
    return png


def _boxes(png: Path) -> dict[str, tuple[int, int, int, int, int]]:
    """For each box colour: (pixel count, left, top, right, bottom) of the pixels of exactly that fill."""
    from PIL import Image

    image = Image.open(png).convert("RGB")
    wanted = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)): name for name, c in BOX_COLOURS.items()}
    found: dict[str, list[int]] = {}
    width = image.width
    for index, pixel in enumerate(
        image.get_flattened_data() if hasattr(image, "get_flattened_data") else image.getdata()
    ):
        name = wanted.get(pixel)
        if name is None:
            continue
        x, y = index % width, index // width
        box = found.setdefault(name, [0, x, y, x, y])
        box[0] += 1
        box[1], box[2], box[3], box[4] = min(box[1], x), min(box[2], y), max(box[3], x), max(box[4], y)
    return {name: tuple(box) for name, box in found.items()}


def test_report_renders_its_diagram_in_chromium_offline(tmp_path):
    page = html_report(read_stack_file(STACKS, "small-shop"), lang="fr")
    with _Listener() as listener:
        boxes = _boxes(_screenshot(page, tmp_path, "report", listener.port))
        without_svg = _boxes(
            _screenshot(page.split("<figure")[0] + page.split("</figure>")[1], tmp_path, "bare", listener.port)
        )
        quiet = list(listener.seen)
        # The page as it was with Mermaid from a CDN: the listener must see that fetch.
        remote = page.replace(
            "</body>",
            '<script type="module">import m from '
            "'https://cdn.jsdelivr.net/npm/mermaid@11/dist/mermaid.esm.min.mjs';</script></body>",
        )
        _screenshot(remote, tmp_path, "remote", listener.port)
        reached = list(listener.seen)
    assert quiet == [], f"the report made network requests: {quiet}"
    assert any(b"cdn.jsdelivr.net" in seen for seen in reached), f"the listener missed the CDN fetch: {reached}"
    assert without_svg == {}, "box colours found on a page without the diagram"
    assert set(boxes) == set(BOX_COLOURS), f"boxes drawn: {sorted(boxes)}"
    for name, (count, left, top, right, bottom) in boxes.items():
        assert count > 4000, f"{name}: only {count} pixels of its fill"  # a box is about 210x100 CSS px
        assert 100 < right - left < 260 and 50 < bottom - top < 120, f"{name}: {right - left}x{bottom - top}"
    centre = {name: ((b[1] + b[3]) / 2, (b[2] + b[4]) / 2) for name, b in boxes.items()}
    # visitors -> primary -> vault on one row; the standby under the vault.
    assert centre["visitors"][0] < centre["primary"][0] < centre["vault"][0]
    assert (
        abs(centre["visitors"][1] - centre["primary"][1]) < 20 and abs(centre["primary"][1] - centre["vault"][1]) < 20
    )
    assert centre["standby"][1] > boxes["vault"][4] and abs(centre["standby"][0] - centre["vault"][0]) < 20


def _redundo(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("redundo")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, cwd=cwd, timeout=120, env={**os.environ, "COLUMNS": "200"}
    )


@pytest.fixture
def bakery(write_stack):
    return write_stack(
        "bakery",
        ovhServiceName=SERVICE,
        sshPublicKey=SSH_KEY,
        domain="boulangerie-caen.fr",
        tier="basic",
        database="sqlite",
    )


def test_report_pdf_is_a_valid_document_with_the_diagram(bakery, tmp_path):
    from pypdf import PdfReader

    out = tmp_path / "bakery.pdf"
    done = _redundo("report", "--stack", "bakery", "--format", "pdf", "--lang", "fr", "-o", str(out), cwd=bakery)
    assert done.returncode == 0, done.stderr
    reader = PdfReader(out)
    assert len(reader.pages) >= 2
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "boulangerie-caen.fr" in text and "Procédure de reprise à la main" in text
    assert "Créez une instance Debian de gabarit" in text  # basic: the standby is cold
    first_runbook_page = next(i for i, page in enumerate(reader.pages) if "Procédure de reprise" in page.extract_text())
    assert "Coût mensuel" not in reader.pages[first_runbook_page].extract_text()  # the runbook starts its own page
    pdftoppm = _tool("pdftoppm")
    subprocess.run([pdftoppm, "-r", "96", "-f", "1", "-l", "1", "-png", str(out), str(tmp_path / "page")], check=True)
    boxes = _boxes(next(tmp_path.glob("page*.png")))
    assert set(boxes) == set(BOX_COLOURS) and all(b[0] > 1000 for b in boxes.values()), boxes


def test_report_html_and_markdown_from_the_cli(bakery, tmp_path):
    page = tmp_path / "bakery.html"
    done = _redundo("report", "--stack", "bakery", "--format", "html", "--lang", "en", "-o", str(page), cwd=bakery)
    assert done.returncode == 0, done.stderr
    html = page.read_text(encoding="utf-8")
    assert "Recovery report: boulangerie-caen.fr" in html and "<svg" in html and "<script" not in html
    md = _redundo("report", "--stack", "bakery", "--part", "summary", cwd=bakery)
    assert md.returncode == 0 and md.stdout.startswith("# Rapport de reprise d’activité")  # French by default
    assert "Procédure" not in md.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "docx"], "error: --format 'docx' is not one of md, html, pdf"),
        (["--lang", "de"], "error: --lang 'de' is not one of fr, en"),
        (["--part", "cost"], "error: --part 'cost' is not one of all, summary, runbook"),
        (["--format", "pdf"], "error: --format pdf writes a file; pass --output FILE.pdf"),
    ],
)
def test_report_bad_options_are_one_line_and_write_nothing(bakery, args, message):
    before = sorted(p.name for p in bakery.rglob("*"))
    done = _redundo("report", "--stack", "bakery", *args, cwd=bakery)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [done.stderr.strip()] and done.stderr.startswith(message), done.stderr
    assert sorted(p.name for p in bakery.rglob("*")) == before


def test_report_pdf_without_weasyprint_names_the_extra(bakery, tmp_path):
    """An install without the `pdf` extra: one line naming the command that adds it, no file."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "weasyprint.py").write_text("raise ImportError('No module named weasyprint')\n")
    out = tmp_path / "bakery.pdf"
    exe = Path(sys.executable).with_name("redundo")
    done = subprocess.run(
        [str(exe), "report", "--stack", "bakery", "--format", "pdf", "-o", str(out)],
        cwd=bakery,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(shadow)},
    )
    assert done.returncode == 1 and not out.exists()
    assert done.stderr == "error: PDF output needs WeasyPrint; install it with `pip install 'redundo[pdf]'`\n"
