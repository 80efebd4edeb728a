"""The HTML report as a user sees it: `snakemake --report` of the shared run, opened in real
headless Chromium (Debian's /usr/bin/chromium), driven over the DevTools protocol.

One report build and one browser run: the page must load without script errors, show the
workflow description with the sample size and the run's configuration as YAML that fits
the page, every figure must render (decoded by the browser,
not blank), and the browsable results table must have one row per source.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("RASSFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
]


class DevTools:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fd 3: commands
    in, fd 4: answers and events out, NUL-terminated JSON), so no websocket library is
    needed."""

    def __init__(self, user_data_dir: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire_pipes():  # runs in the child before exec
            # via fresh copies: a pipe end may itself be fd 3 or 4, and dup2 onto itself
            # would keep its close-on-exec flag
            read_end, write_end = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.process = subprocess.Popen(
            [
                CHROMIUM,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={user_data_dir}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_pipes,
            close_fds=False,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except Exception:  # noqa: BLE001 - the browser may be gone already
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()  # only the browser this test started, by its handle
            self.process.wait()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass

    def _read_message(self, deadline: float) -> dict:
        import select

        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer from chromium")
            ready, _, _ = select.select([self._from_chrome], [], [], remaining)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"chromium closed the pipe (exit {self.process.poll()})")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: str | None = None, timeout: float = 60, **params):
        self._next_id += 1
        command = {"id": self._next_id, "method": method, "params": params}
        if session:
            command["sessionId"] = session
        os.write(self._to_chrome, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        for index, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if message.get("method") == method:
                return message
            self.events.append(message)

    def evaluate(self, session: str, expression: str, context: int | None = None):
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        if context is not None:
            params["contextId"] = context
        result = self.send("Runtime.evaluate", session, **params)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")


# in the page: decode the shown <img> and measure its pixels (data: URIs do not taint a canvas)
IMAGE_PROBE = """
new Promise((resolve) => {
  const check = (tries) => {
    const img = document.querySelector("img[src^='data:image/png']");
    if (!img || !img.complete || !img.naturalWidth) {
      if (tries > 100) { resolve(null); return; }
      setTimeout(() => check(tries + 1), 50);
      return;
    }
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0, sum2 = 0, n = 0;
    for (let i = 0; i < pixels.length; i += 4 * 7) {
      const v = (pixels[i] + pixels[i + 1] + pixels[i + 2]) / 3;
      sum += v; sum2 += v * v; n += 1;
    }
    const mean = sum / n;
    resolve({src: img.src.slice(0, 40), width: img.naturalWidth, height: img.naturalHeight,
             variance: sum2 / n - mean * mean, displayed: img.getBoundingClientRect().width});
  };
  check(0);
})
"""


# in the page: the configuration block's text, the width each of its lines takes (measured in
# the block's own font), the room inside the block and how many characters that room holds
CONFIGURATION_PROBE = """
(() => {
  const pre = document.querySelector("pre.rassflow-configuration");
  if (!pre) return null;
  const style = getComputedStyle(pre);
  const room = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const measure = (text) => {
    const span = document.createElement("span");
    span.style.whiteSpace = "pre";
    span.textContent = text;
    pre.appendChild(span);
    const width = span.getBoundingClientRect().width;
    span.remove();
    return width;
  };
  const text = pre.textContent;
  const box = pre.getBoundingClientRect();
  return {text: text, room: room, char: measure("x".repeat(100)) / 100,
          lines: text.split("\\n").map((line) => [line, measure(line)]),
          scroll: pre.scrollWidth, client: pre.clientWidth,
          right: box.right, page: document.documentElement.clientWidth};
})()
"""


def update(base: dict, overrides: dict) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            update(base[key], value)
        else:
            base[key] = value


def check_configuration_block(block: dict, demo_run: Path) -> None:
    """The block is the run's validated configuration as YAML, in the schema's order, and
    no line of it is wider than the page's text column: neither this run's lines nor any
    config_yaml can write (PAGE_WIDTH characters)."""
    import yaml

    from rassflow.config import load_schema, validate
    from rassflow.report.configuration import PAGE_WIDTH

    shown = yaml.safe_load(block["text"])
    # the workflow's config/config.yaml updated with the run's file, as Snakemake merges them
    expected = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    update(expected, yaml.safe_load((demo_run / "run.yaml").read_text()))
    expected = validate(expected)
    assert list(shown) == [key for key in load_schema()["properties"] if key in expected]
    # the report shows the tools the run resolved 'auto' to
    assert shown["tools"].pop("products") in ("native", "heasoft")
    assert shown["tools"].pop("fitter") in ("sherpa", "xspec")
    for key in ("products", "fitter"):
        expected["tools"].pop(key)
    assert shown == expected
    too_wide = [line for line, width in block["lines"] if width > block["room"] + 0.5]
    assert not too_wide, f"lines wider than the page's {block['room']} px: {too_wide}"
    assert block["scroll"] <= block["client"] and block["right"] <= block["page"], block
    assert PAGE_WIDTH * block["char"] <= block["room"], (
        f"PAGE_WIDTH {PAGE_WIDTH} characters of {block['char']} px pass the {block['room']} px "
        "of the page's code block"
    )


@pytest.fixture(scope="module")
def report_html(demo_run, run_workflow):
    path = demo_run / "report-browser.html"
    run_workflow(demo_run, None, "--report", path)
    return path


def test_report_in_chromium(report_html, demo_run):
    if not Path(CHROMIUM).is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    import matplotlib.image
    import pandas as pd

    figures = demo_run / "results" / "figures"
    expected = {
        *(p.name for p in (figures / "cutouts").glob("*.png")),
        *(p.name for p in (figures / "spectra").glob("*.png")),
        "skyfield-images.png",
        "parameter-histograms.png",
        "rate-comparison.png",
        "sample-fluxes.png",
    }
    results_table = pd.read_csv(demo_run / "results" / "results" / "rass-spectral-results.csv")

    with tempfile.TemporaryDirectory(prefix="rassflow-chromium-") as profile:
        browser = DevTools(Path(profile))
        try:
            target = browser.send("Target.createTarget", url="about:blank")["targetId"]
            session = browser.send("Target.attachToTarget", targetId=target, flatten=True)[
                "sessionId"
            ]
            for domain in ("Page", "Runtime", "Log"):
                browser.send(f"{domain}.enable", session)
            browser.send("Page.navigate", session, url=report_html.resolve().as_uri())
            browser.wait_for("Page.loadEventFired", timeout=120)

            # the app rendered its front page: the workflow description with the sample size
            text = browser.evaluate(
                session,
                """new Promise((resolve) => setTimeout(
                     () => resolve(document.body.innerText), 500))""",
            )
            assert "rassflow: spectral analysis" in text, text[:2000]
            assert f"2RXS-matched sources with spectra and fits: {len(results_table)}" in text
            assert "products backend: native" in text or "products backend: heasoft" in text

            # the run's configuration as YAML, every line inside the page's text column
            block = browser.evaluate(session, CONFIGURATION_PROBE)
            assert block is not None, "no configuration block on the front page"
            check_configuration_block(block, demo_run)

            # every figure, shown as its result's eye button shows it
            entries = browser.evaluate(
                session,
                "Object.entries(results).map(([path, r]) => "
                "({path: path, name: r.name, mime: r.mime_type}))",
            )
            names = {Path(entry["name"]).name for entry in entries}
            assert expected <= names, f"figures missing from the report: {expected - names}"
            shown = {}
            for entry in entries:
                if entry["mime"] != "image/png":
                    continue
                browser.evaluate(
                    session,
                    f"""app.setView({{content: "img", resultPath: {json.dumps(entry["path"])},
                         contentPath: results[{json.dumps(entry["path"])}].data_uri}})""",
                )
                probe = browser.evaluate(session, IMAGE_PROBE)
                assert probe is not None, f"{entry['name']} did not render"
                assert probe["width"] > 200 and probe["displayed"] > 0, (entry["name"], probe)
                assert probe["variance"] > 1.0, f"{entry['name']} is blank: {probe}"
                shown[Path(entry["name"]).name] = probe
            assert expected <= set(shown)

            # what the user sees of one figure: a screenshot that is not blank
            shot = browser.send("Page.captureScreenshot", session, format="png")["data"]
            pixels = matplotlib.image.imread(io.BytesIO(base64.b64decode(shot)), format="png")
            assert pixels[..., :3].var() > 1e-3

            # the browsable results table: one row per source, every id once
            table = next(e for e in entries if e["name"].endswith("rass-spectral-results.html"))
            browser.evaluate(
                session,
                f"""app.setView({{content: "html", resultPath: {json.dumps(table["path"])},
                     contentPath: results[{json.dumps(table["path"])}].data_uri}})""",
            )
            rows = None
            for _ in range(100):  # the iframe loads its data: URI asynchronously
                frames = browser.send("Page.getFrameTree", session)["frameTree"]
                children = frames.get("childFrames", [])
                if children:
                    frame = children[0]["frame"]["id"]
                    world = browser.send("Page.createIsolatedWorld", session, frameId=frame)
                    # a large table is parsed progressively: read it once the frame's
                    # document is complete
                    loaded, rows = browser.evaluate(
                        session,
                        "[document.readyState === 'complete', Array.from("
                        "document.querySelectorAll('table.results tbody tr'))"
                        ".map((row) => row.dataset.id)]",
                        context=world["executionContextId"],
                    )
                    if loaded and rows:
                        break
                time.sleep(0.1)
            assert rows is not None and sorted(rows) == sorted(results_table["id_name"]), rows

            errors = [
                event
                for event in browser.events
                if event.get("method") == "Runtime.exceptionThrown"
                or (
                    event.get("method") == "Runtime.consoleAPICalled"
                    and event["params"]["type"] == "error"
                )
                or (
                    event.get("method") == "Log.entryAdded"
                    and event["params"]["entry"]["level"] == "error"
                )
            ]
            assert not errors, json.dumps(errors, indent=1)[:4000]
        finally:
            browser.close()


def test_chromium_is_the_debian_one():
    """The browser the test drives is a real Chromium, not a stand-in."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    version = subprocess.run(
        [CHROMIUM, "--version"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "Chromium" in version, version
