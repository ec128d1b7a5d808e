"""Retake the README's screenshots (docs/*.png) from the demo's traces, in Debian's Chromium.

Run it from the repository after a change to the viewer: ``.venv/bin/python scripts/screenshots.py``. It writes the
demo into a temporary store, serves the viewer on a free port and captures the Traces page and the support agent's
Trace page with its model call selected; nothing reaches the network.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' way of serving the viewer on a free port

from spanlite.demo import run_demo  # noqa: E402
from spanlite.store import TraceStore  # noqa: E402
from spanlite.viewer.launch import viewer_command  # noqa: E402
from viewer_server import free_port, serving  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1500, "height": 950}


def _support_agent_call(db: Path) -> tuple[str, str]:
    """The demo's richest trace (the most kinds of span: retrieval, tools, model calls), and its first model call."""
    with TraceStore(db) as store:
        traces = [store.get_trace(t.trace_id) for t in store.search_traces(limit=50)]
        trace = max((t for t in traces if t is not None), key=lambda t: len({s.kind for s in t.spans}))
        model = next(s for s in trace.spans if s.kind in ("CHAT_MODEL", "LLM"))
        return trace.info.trace_id, model.span_id


def main() -> int:
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.db"
        run_demo(db)
        trace_id, span_id = _support_agent_call(db)
        port = free_port()
        argv, env = viewer_command(db, port)
        with serving(argv, env, port), sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(30_000)
            expect.set_options(timeout=30_000)
            base = f"http://127.0.0.1:{port}"

            page.goto(base)  # the Traces page is the default page, served at /
            expect(page.get_by_role("heading", name="Traces", exact=True)).to_be_visible()
            page.wait_for_timeout(1500)  # the grid draws its rows after the page settles
            page.screenshot(path=str(ROOT / "docs" / "viewer-traces.png"))

            page.goto(f"{base}/trace?trace={trace_id}&span={span_id}")
            expect(page.get_by_test_id("stChatMessage").first).to_be_visible()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ROOT / "docs" / "viewer.png"))
            browser.close()
    print("wrote docs/viewer-traces.png and docs/viewer.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
