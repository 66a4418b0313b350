"""Alert delivery latency: condition true -> message received, per channel.

Everything on loopback (tests/alert_receivers.py: the DingTalk receiver
checks every signature; a local aiosmtpd server for e-mail), on a demo
database built here (the test fixture's slice: 28 days to 2026-11-20
18:00, scale 0.15, seed 7).

1. ``pass``: for each channel type, ``--runs`` times: a fresh app-state
   database, then one evaluation + delivery pass of one rule (new red
   warnings of district 330105) is started; latency = receiver's arrival
   time - the pass's start (the condition was already true: this is the
   service's own share, detection by the query included).
2. ``service``: ``python -m alerts run --interval N`` as a subprocess on a
   copy of the database; a new red warning is inserted (the condition
   becomes true) and the webhook receiver's arrival is timed. Expected:
   up to ``N`` s of waiting for the next evaluation plus the pass.
3. ``rules``: one evaluation of the six rules of config/alerts.toml on the
   whole city (queries only, no channel).

    python benchmarks/alert_latency.py --runs 20 --service-runs 5 --interval 5
    python benchmarks/alert_latency.py --service-runs 0 --state-url postgresql+psycopg://postgres@127.0.0.1:5432/alerts_bench

``--state-url`` repeats part 1 with the app state on that database (its
alert tables are emptied: give it a scratch database).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402

import appstate  # noqa: E402
from alerts import dispatch, evaluate, rules  # noqa: E402
from alerts.clock import SystemClock  # noqa: E402
from appstate import alerts as alert_store  # noqa: E402
from data_access.config import load_site_config  # noqa: E402
from data_access.connection import make_engine  # noqa: E402
from data_access.schema import warning  # noqa: E402
from demo.build import build_demo  # noqa: E402
from tests.alert_receivers import Receiver, SmtpReceiver  # noqa: E402

END = datetime(2026, 11, 20, 18, 0)
CHANNEL_TYPES = ("dingtalk", "zhezhengding", "wecom", "webhook", "email")


def channel_toml(kind: str, rx: Receiver, smtp_port: int) -> str:
    url = {
        "dingtalk": rx.dingtalk_url,
        "zhezhengding": rx.dingtalk_url.replace("/dingtalk/", "/dingtalk/zzd/"),
        "wecom": rx.wecom_url,
        "webhook": rx.webhook_url,
    }.get(kind, "")
    extra = f'secret = "{rx.secret}"' if kind in ("dingtalk", "zhezhengding") else ""
    if kind == "email":
        extra = (
            f'host = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
            'recipients = ["duty@dash.test"]'
        )
    return f'[channels.c]\ntype = "{kind}"\nenabled = true\nurl = "{url}"\n{extra}\n'


def config_text(kind: str, rx: Receiver, smtp_port: int) -> str:
    return (
        '[rules.red]\nkind = "red_warning"\nseverity = "critical"\ndistrict = "330105"\n'
        'channels = ["c"]\n' + channel_toml(kind, rx, smtp_port)
    )


def arrivals(kind: str, rx: Receiver, smtp: SmtpReceiver) -> int:
    if kind == "email":
        return len(smtp.messages)
    prefix = {"wecom": "/wecom", "webhook": "/webhook"}.get(kind, "/dingtalk")
    return len(rx.accepted(prefix))


def last_arrival(kind: str, rx: Receiver, smtp: SmtpReceiver) -> float:
    if kind == "email":
        return float(smtp.messages[-1][0])
    prefix = {"wecom": "/wecom", "webhook": "/webhook"}.get(kind, "/dingtalk")
    return rx.accepted(prefix)[-1].at


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def fresh_state(state_url: str | None, tmp: Path, name: str):
    """A fresh app-state engine: a new SQLite file, or ``state_url`` with
    the alert tables emptied."""
    if not state_url:
        return appstate.make_engine(f"sqlite:///{tmp / f'{name}.sqlite'}")
    engine = appstate.make_engine(state_url)
    with appstate.begin(engine, alert_store.metadata) as conn:
        for table in reversed(alert_store.metadata.sorted_tables):
            conn.execute(table.delete())
    return engine


def bench_pass(db_url: str, runs: int, tmp: Path, state_url: str | None = None) -> None:
    site = load_site_config()
    ops = make_engine(db_url)
    rx, smtp = Receiver(rate_per_min=10_000).start(), SmtpReceiver().start()
    where = state_url.split("://")[0] if state_url else "sqlite"
    print(f"\n1. one evaluation + delivery pass (condition already true), app state on {where}, ms")
    print(f"{'channel':14} {'runs':>4} {'median':>8} {'p90':>8} {'max':>8}")
    try:
        for kind in CHANNEL_TYPES:
            cfg = rules.parse(tomllib.loads(config_text(kind, rx, smtp.port)))
            assert not cfg.problems, cfg.problems
            cfg = replace(cfg, channels={"c": replace(cfg.channels["c"], rate_per_min=10_000)})
            got = []
            for i in range(runs):
                st = fresh_state(state_url, tmp, f"{kind}-{i}")
                before = arrivals(kind, rx, smtp)
                start = time.time()
                evaluate.evaluate_rules(ops, st, cfg, site, SystemClock(), END)
                dispatch.dispatch(st, cfg, SystemClock(), site.timezone)
                deadline = time.time() + 10
                while arrivals(kind, rx, smtp) == before and time.time() < deadline:
                    time.sleep(0.001)
                got.append((last_arrival(kind, rx, smtp) - start) * 1000)
                st.dispose()
            print(
                f"{kind:14} {runs:>4} {statistics.median(got):>8.1f} {pct(got, 0.9):>8.1f} "
                f"{max(got):>8.1f}"
            )
        assert not rx.rejected, rx.rejected
    finally:
        rx.stop()
        smtp.stop()


def bench_service(db_path: Path, runs: int, interval: float, tmp: Path) -> None:
    db = tmp / "service.sqlite"
    shutil.copy(db_path, db)
    rx, smtp = Receiver().start(), SmtpReceiver().start()
    cfg_path = tmp / "service.toml"
    cfg_path.write_text(config_text("webhook", rx, smtp.port), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPS_")}
    env.update(
        OPS_DB_URL=f"sqlite:///{db}",
        OPS_NOW=END.isoformat(),
        OPS_ALERTS_CONFIG=str(cfg_path),
        OPS_APPSTATE_URL=f"sqlite:///{tmp / 'service-state.sqlite'}",
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "alerts", "run", "--interval", str(interval)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    writer = create_engine(f"sqlite:///{db}")
    got = []
    try:
        rx.wait_for(1, "/webhook", timeout=60)  # the fixture's own red warning first
        for i in range(runs):
            time.sleep(interval * (0.37 + 0.21 * i) % interval)  # land anywhere in the cycle
            before = len(rx.accepted("/webhook"))
            with writer.begin() as conn:
                start = time.time()
                conn.execute(
                    warning.insert().values(
                        id=f"BENCH{i:03d}", domain="risk", street_code="330105009",
                        grid_code=None, colour="red", raised_at=END - timedelta(minutes=5),
                        cleared_at=None, note="benchmark",
                    )
                )  # fmt: skip
            rx.wait_for(before + 1, "/webhook", timeout=interval * 3 + 30)
            got.append(rx.accepted("/webhook")[-1].at - start)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        rx.stop()
        smtp.stop()
        writer.dispose()
    print(
        f"\n2. python -m alerts run --interval {interval:g}: new red warning inserted -> webhook, s"
    )
    print(f"runs {len(got)}: median {statistics.median(got):.2f}, max {max(got):.2f} "
          f"(each: {', '.join(f'{g:.2f}' for g in got)})")  # fmt: skip


def bench_rules(db_url: str) -> None:
    site = load_site_config()
    cfg = rules.load(ROOT / "config" / "alerts.toml")
    ops = make_engine(db_url)
    names = None
    print("\n3. the shipped rules, one evaluation each on the whole city (queries only), ms")
    with ops.connect() as conn:
        names = evaluate.Names.read(conn)
        for rule in cfg.rules:
            whole = replace(rule, district=None)
            times = []
            for _ in range(5):
                t = time.perf_counter()
                found = evaluate.observe(conn, whole, END, site, names)
                times.append((time.perf_counter() - t) * 1000)
            print(
                f"{rule.name:30} {rule.kind:16} {statistics.median(times):8.1f}  ({len(found)} instances)"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--service-runs", type=int, default=5)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--state-url", help="app-state database for part 1 (its alert tables emptied)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="alert-bench-"))
    try:
        db = tmp / "demo.sqlite"
        t = time.time()
        build_demo(f"sqlite:///{db}", days=28, seed=7, scale=0.15, end=END)
        print(f"demo database built in {time.time() - t:.1f} s; now pinned at {END}; "
              f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, python {sys.version.split()[0]}")  # fmt: skip
        bench_pass(f"sqlite:///{db}", args.runs, tmp)
        if args.state_url:
            bench_pass(f"sqlite:///{db}", args.runs, tmp, args.state_url)
        if args.service_runs:
            bench_service(db, args.service_runs, args.interval, tmp)
        bench_rules(f"sqlite:///{db}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
