"""The HTML report in a real browser: headless Debian chromium loads it from disk, with no console
error, no network request, and every figure decoded (naturalWidth > 0); a screenshot is kept.

Driven through the DevTools protocol over ``--remote-debugging-pipe`` (fds 3 and 4, messages
separated by NUL), with the standard library only.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")]


class DevTools:
    """A minimal DevTools-protocol client over the pipe transport."""

    def __init__(self, user_data_dir: Path) -> None:
        self._log = open(user_data_dir.with_name("chromium.log"), "wb")  # noqa: SIM115 - closed in close()
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        # The pipe transport expects fds 3 (commands in) and 4 (replies out); bash's redirections (dash cannot name fds above 9)
        # place them there (subprocess would close fds set up by a preexec_fn).
        self.process = subprocess.Popen(
            [
                "/bin/bash", "-c", f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}', str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--mute-audio", f"--user-data-dir={user_data_dir}", "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
            pass_fds=(to_browser_r, from_browser_w),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read(timeout)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe; see " + self._log.name)
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._log.close()


# each figure drawn on a canvas: the share of its pixels that are not (near) white; a blank PNG has none
INK_SCRIPT = """JSON.stringify(Array.from(document.images).map(i => {
  let ink = 0;
  if (i.complete && i.naturalWidth > 0) {
    const c = document.createElement('canvas'); c.width = i.naturalWidth; c.height = i.naturalHeight;
    const g = c.getContext('2d'); g.drawImage(i, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
    for (let k = 0; k < d.length; k += 4) { if (d[k] < 240 || d[k + 1] < 240 || d[k + 2] < 240) n++; }
    ink = n / (c.width * c.height);
  }
  return {id: i.id, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight, ink: ink};
}))"""
# every section (from one h2 to the next) as a box on the page, for one screenshot each
SECTIONS_SCRIPT = """JSON.stringify((() => {
  const heads = Array.from(document.querySelectorAll('h2'));
  const end = document.documentElement.scrollHeight;
  return heads.map((h, k) => {
    const top = h.getBoundingClientRect().top + window.scrollY;
    const next = k + 1 < heads.length ? heads[k + 1].getBoundingClientRect().top + window.scrollY : end;
    return {id: h.id, top: Math.floor(top), height: Math.ceil(next - top)};
  });
})())"""


def load_in_chromium(page: Path, screenshot: Path) -> dict[str, Any]:
    """Open ``page`` from disk; return the figures' decode state and ink, console errors and
    requests. Beside ``screenshot`` it writes one screenshot per section (section-NN-ID.png) and
    the first screen (first-screen.png, 1200 x 900)."""
    browser = DevTools(screenshot.parent / "chromium-profile")
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Emulation.setDeviceMetricsOverride", {"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
        browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired", timeout=60)
        figures = browser.send("Runtime.evaluate", {"expression": INK_SCRIPT, "returnByValue": True}, session=session)["result"]["value"]
        sections = browser.send("Runtime.evaluate", {"expression": SECTIONS_SCRIPT, "returnByValue": True}, session=session)["result"]["value"]
        for index, box in enumerate(json.loads(sections)):
            if box["height"] < 1:
                continue
            shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
                "x": 0, "y": box["top"], "width": 1200, "height": min(box["height"], 16000), "scale": 1}}, session=session, timeout=60)
            (screenshot.parent / f"section-{index:02d}-{box['id'] or 'top'}.png").write_bytes(base64.b64decode(shot["data"]))
        first = browser.send("Page.captureScreenshot", {"format": "png"}, session=session, timeout=60)
        (screenshot.parent / "first-screen.png").write_bytes(base64.b64decode(first["data"]))
        height = browser.send("Runtime.evaluate", {"expression": "document.documentElement.scrollHeight", "returnByValue": True},
                              session=session)["result"]["value"]
        shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                       "clip": {"x": 0, "y": 0, "width": 1200, "height": min(int(height), 16000), "scale": 1}},
                            session=session, timeout=60)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        events = list(browser.events)
    finally:
        browser.close()
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
            errors.append(str(params.get("args")))
        elif method == "Runtime.exceptionThrown":
            errors.append(str(params.get("exceptionDetails")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
            errors.append(params["entry"].get("text", ""))
        elif method == "Network.loadingFailed":
            errors.append(f"loading failed: {params.get('errorText')}")
    requests = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
    return {"figures": json.loads(figures), "errors": errors, "requests": requests}


def test_report_renders_in_chromium(synthetic_report, tmp_path: Path) -> None:
    paths = synthetic_report
    expected = len(paths.figures)
    result = load_in_chromium(paths.html, tmp_path / "screenshot.png")
    assert result["errors"] == []
    assert len(result["figures"]) == expected >= 8
    assert all(f["complete"] and f["width"] > 0 and f["height"] > 0 for f in result["figures"]), result["figures"]
    # no figure is blank: lines, points, labels ink at least 1% of it
    assert all(f["ink"] > 0.01 for f in result["figures"]), [(f["id"], f["ink"]) for f in result["figures"]]
    shots = sorted(tmp_path.glob("section-*.png"))
    assert len(shots) >= 10 and shots[0].name.startswith("section-00-verdict")
    assert all(s.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for s in shots) and (tmp_path / "first-screen.png").is_file()
    # only the page itself (and its inline data: images) was fetched, nothing from a network
    assert all(url.startswith(("file:", "data:")) for url in result["requests"]), result["requests"]
    shot = (tmp_path / "screenshot.png").read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000


def test_browser_check_catches_a_broken_figure(synthetic_report, tmp_path: Path) -> None:
    """The check can fail: an image whose data is corrupt decodes to naturalWidth 0 and logs."""
    text = synthetic_report.html.read_text()
    start = text.index("data:image/png;base64,") + len("data:image/png;base64,")
    broken = tmp_path / "broken.html"
    broken.write_text(text[:start] + "AAAA" + text[start + 4 :])
    result = load_in_chromium(broken, tmp_path / "broken.png")
    assert any(not f["complete"] or f["width"] == 0 for f in result["figures"])


def test_browser_check_catches_a_blank_figure(synthetic_report, tmp_path: Path) -> None:
    """A figure that decodes but shows nothing (an all-white PNG) has no ink."""
    import io

    from matplotlib.figure import Figure

    buffer = io.BytesIO()
    Figure(figsize=(3, 2)).savefig(buffer, format="png")
    text = synthetic_report.html.read_text()
    start = text.index("data:image/png;base64,") + len("data:image/png;base64,")
    end = text.index('"', start)
    blank = tmp_path / "blank.html"
    blank.write_text(text[:start] + base64.b64encode(buffer.getvalue()).decode() + text[end:])
    result = load_in_chromium(blank, tmp_path / "blank.png")
    assert min(f["ink"] for f in result["figures"]) < 0.01
