"""Soak test of the command screen (not a CI test): does memory level off?

Starts ``streamlit run Home.py`` on a free port with a short tile refresh
(a copy of the site config with ``screen.refresh_s`` / ``rotate_s``
changed), opens ``/command-screen`` in headless Chromium (Playwright) and
leaves it running for ``--minutes``. Every ``--sample`` seconds it records:

- ``refreshes``: tile reruns finished so far (``script_finished`` messages on
  the app's websocket, decoded with Streamlit's own protobufs);
- ``heap_MB``: the page's used JS heap (CDP ``Performance.getMetrics``),
  and ``heap_gc_MB`` the same right after a forced garbage collection
  (what is really retained);
- ``nodes``: DOM nodes; ``rss_MB``: the server process's resident memory
  (``psutil`` if installed, else ``/proc``);
- ``recv_MB``: bytes the page received on the app's websocket so far;
- ``errors``: page errors, console errors, Streamlit exception boxes and
  traceback text seen so far; ``stale``: tiles showing a stale notice now.

Prints a table, then a verdict: memory "levels off" when the second half's
growth (least-squares slope) of the post-GC heap and of the server RSS
stays under ``--max-growth`` MB per hour and the error count is zero.

    python benchmarks/soak_screen.py --minutes 60 --refresh 5 --sample 60

By default the app reads its own demo database (``var/demo.sqlite``) on the
wall clock; ``--db-url`` and ``--now`` (pins ``OPS_NOW``) change that.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


#: Streamlit's frontend probes ``/command-screen/_stcore/health`` and
#: ``host-config`` before the real base path; those 404s are its own.
BENIGN_CONSOLE_URL = re.compile(r"/_stcore/(health|host-config)$")


@dataclass
class Sample:
    minute: float
    refreshes: int
    heap_mb: float
    heap_gc_mb: float
    nodes: int
    rss_mb: float
    recv_mb: float
    errors: int
    stale: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    try:
        import psutil

        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except ImportError:
        text = Path(f"/proc/{pid}/status").read_text()
        m = re.search(r"VmRSS:\s+(\d+) kB", text)
        return int(m.group(1)) / 1024 if m else float("nan")


def wait_healthy(base: str, seconds: float = 60.0) -> None:
    """Wait until the server at ``base`` answers its health check (at most ``seconds``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/_stcore/health", timeout=2)
            return
        except OSError:
            time.sleep(0.5)


def site_config(refresh: int, rotate: int) -> Path:
    """A copy of the shipped config with the screen's timers shortened."""
    text = (ROOT / "config" / "site.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^refresh_s = \d+", f"refresh_s = {refresh}", text)
    text = re.sub(r"(?m)^rotate_s = \d+", f"rotate_s = {rotate}", text)
    out = Path(tempfile.mkdtemp(prefix="soak_")) / "site.toml"
    out.write_text(text, encoding="utf-8")
    return out


def slope_per_hour(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (minutes), per hour."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return (
        60.0 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--refresh", type=int, default=5, help="screen.refresh_s (seconds)")
    ap.add_argument("--rotate", type=int, default=20, help="screen.rotate_s (seconds)")
    ap.add_argument("--sample", type=float, default=60.0, help="seconds between samples")
    ap.add_argument("--db-url", default=os.environ.get("OPS_DB_URL", ""))
    ap.add_argument("--now", default="", help="pin OPS_NOW (ISO local time)")
    ap.add_argument("--query", default="", help="extra URL query, e.g. playlist=districts")
    ap.add_argument("--max-growth", type=float, default=5.0, help="MB per hour")
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    port = free_port()
    env = dict(os.environ, OPS_SITE_CONFIG=str(site_config(args.refresh, args.rotate)))
    if args.db_url:
        env["OPS_DB_URL"] = args.db_url
    if args.now:
        env["OPS_NOW"] = args.now
    log = open(Path(tempfile.gettempdir()) / f"soak_server_{port}.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    counts = {"finished": 0, "errors": 0, "bytes": 0}
    samples: list[Sample] = []
    try:
        wait_healthy(base)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            # A first session makes the server learn the pages (the very first
            # deep link after a start says "page not found" and runs the main page).
            warm = browser.new_page()
            warm.goto(f"{base}/command-screen")
            warm.wait_for_selector('[data-key="alerts"]', timeout=180_000)
            warm.close()
            page = browser.new_page(viewport={"width": args.width, "height": args.height})

            def on_frame(payload: Any) -> None:
                counts["bytes"] += len(payload)
                if isinstance(payload, bytes | bytearray):
                    try:
                        msg = ForwardMsg.FromString(bytes(payload))
                    except Exception:
                        return
                    if msg.WhichOneof("type") == "script_finished":
                        counts["finished"] += 1

            def on_console(m: Any) -> None:
                url = (m.location or {}).get("url", "")
                if m.type == "error" and not BENIGN_CONSOLE_URL.search(url):
                    counts["errors"] += 1
                    print("console error:", m.text[:200], flush=True)

            def on_page_error(e: Any) -> None:
                counts["errors"] += 1
                print("page error:", str(e)[:200], flush=True)

            page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
            page.on("console", on_console)
            page.on("pageerror", on_page_error)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            query = f"?{args.query}" if args.query else ""
            page.goto(f"{base}/command-screen{query}")
            page.wait_for_selector('[data-key="alerts"]', timeout=180_000)

            def metrics() -> dict[str, float]:
                got = cdp.send("Performance.getMetrics")["metrics"]
                return {m["name"]: m["value"] for m in got}

            print(
                f"soak: {args.minutes:g} min, refresh {args.refresh} s, rotate {args.rotate} s, "
                f"sample every {args.sample:g} s, {args.width}x{args.height}, server pid {server.pid}"
            )
            header = (
                f"{'min':>6} {'refreshes':>9} {'heap_MB':>8} {'heap_gc_MB':>10} "
                f"{'nodes':>7} {'rss_MB':>7} {'recv_MB':>8} {'errors':>6} {'stale':>5}"
            )
            print(header, flush=True)
            start = time.monotonic()
            end = start + args.minutes * 60
            next_sample = start
            shown_errors = 0
            while True:
                now = time.monotonic()
                if now >= next_sample:
                    before = metrics()
                    cdp.send("HeapProfiler.collectGarbage")
                    after = metrics()
                    boxes = page.locator('[data-testid="stException"]').count()
                    traceback = page.locator("text=Traceback").count()
                    shown_errors = max(shown_errors, boxes + traceback)
                    s = Sample(
                        minute=(now - start) / 60,
                        refreshes=counts["finished"],
                        heap_mb=before["JSHeapUsedSize"] / 2**20,
                        heap_gc_mb=after["JSHeapUsedSize"] / 2**20,
                        nodes=int(after["Nodes"]),
                        rss_mb=rss_mb(server.pid),
                        recv_mb=counts["bytes"] / 2**20,
                        errors=counts["errors"] + shown_errors,
                        stale=page.locator("[data-tile-stale]").count(),
                    )
                    samples.append(s)
                    print(
                        f"{s.minute:6.1f} {s.refreshes:9d} {s.heap_mb:8.1f} {s.heap_gc_mb:10.1f} "
                        f"{s.nodes:7d} {s.rss_mb:7.1f} {s.recv_mb:8.2f} {s.errors:6d} {s.stale:5d}",
                        flush=True,
                    )
                    next_sample += args.sample
                if now >= end:
                    break
                page.wait_for_timeout(min(1000.0, max(0.0, (next_sample - now) * 1000)))
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()

    half = samples[len(samples) // 2 :]
    xs = [s.minute for s in half]
    heap_slope = slope_per_hour(xs, [s.heap_gc_mb for s in half])
    rss_slope = slope_per_hour(xs, [s.rss_mb for s in half])
    node_slope = slope_per_hour(xs, [float(s.nodes) for s in half])
    errors = samples[-1].errors if samples else 0
    level = abs(heap_slope) < args.max_growth and rss_slope < args.max_growth and errors == 0
    print(
        f"\nsecond half: heap after GC {heap_slope:+.2f} MB/h, server RSS {rss_slope:+.2f} MB/h, "
        f"DOM nodes {node_slope:+.0f}/h; refreshes {samples[-1].refreshes if samples else 0}; "
        f"errors {errors}"
    )
    print("verdict:", "memory levels off" if level else "memory GROWS or errors seen")
    return 0 if level else 1


if __name__ == "__main__":
    raise SystemExit(main())
