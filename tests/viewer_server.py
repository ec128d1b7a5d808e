"""The real viewer served for a test: a free port, and the process until it answers, ended afterwards."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(
    argv: list[str], env: dict[str, str], port: int, startup_s: float = 60, **popen: Any
) -> Iterator[subprocess.Popen[Any]]:
    """Run the viewer (``viewer_command``) until it answers on 127.0.0.1:``port``; ``popen`` says where its output
    goes. Ended, and killed if it will not end, when the block leaves."""
    process = subprocess.Popen(argv, env=env, cwd=ROOT, **popen)
    try:
        deadline = time.monotonic() + startup_s
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the viewer did not start"
                time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the viewer in Debian's Chromium ---------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
# One folder per interpreter: scripts/test.sh runs the suite on each at the same time.
ARTIFACTS = ROOT / "tests" / "artifacts" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
HAS_CHROMIUM = CHROMIUM.exists()
NO_CHROMIUM = "needs Debian's Chromium at /usr/bin/chromium"


@contextlib.contextmanager
def viewer_at(db: Path, log_name: str) -> Iterator[str]:
    """The viewer served for ``db`` on a free port, its output in ``ARTIFACTS/log_name`` (read it when it did not
    start); yields its address."""
    from spanlite.viewer.launch import viewer_command

    port = free_port()
    argv, env = viewer_command(db, port)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / log_name, "wb") as log:
        with serving(argv, env, port, startup_s=30, stdout=log, stderr=subprocess.STDOUT):
            yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def chromium_page(
    timeout_ms: int = 20_000, width: int = 1500, height: int = 1200, **page_options: Any
) -> Iterator[Any]:
    """A fresh browser (its own cookies and storage) and one page in it; no dialog may open. The
    timeout is generous: a loaded machine can take more than Playwright's 5 s default to rerun a page."""
    from playwright.sync_api import expect, sync_playwright

    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, **page_options)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.set_default_timeout(timeout_ms)
            expect.set_options(timeout=timeout_ms)
            yield page
            assert dialogs == []
        finally:
            browser.close()


def settled(page: Any) -> None:
    """Wait until the app's script has finished running (Streamlit shows a running icon meanwhile)."""
    from playwright.sync_api import expect

    expect(page.locator('[data-testid^="stStatusWidgetRunning"]')).to_have_count(0)
