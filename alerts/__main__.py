"""``python -m alerts run|once|test-channel NAME|status``.

- ``run``: evaluate every ``service.interval_s`` seconds and send the
  outbox every few seconds, until SIGTERM/SIGINT (see deploy/alerts.service);
- ``once``: one evaluation and one delivery pass (cron, tests);
- ``test-channel NAME``: send a test message on one channel and say what
  the receiver answered;
- ``status``: rules, instances (firing, pending, unknown), the outbox.

The operational database: ``--db-url``, else ``OPS_DB_URL``, else the
demo file (``OPS_DEMO_PATH``); read-only. The app-state database:
``--state-db``, else ``OPS_APPSTATE_URL``, else ``var/appstate.sqlite``.
``OPS_NOW`` pins the data's "now" (naive local time) for replays and tests.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine

import appstate
import rollups
from alerts import dispatch, evaluate, lease, rules
from alerts.clock import Clock, SystemClock, local
from appstate import alerts as alert_store
from appstate.alerts import naive_utc
from data_access import connection
from data_access.config import SiteConfig, load_site_config

_log = logging.getLogger("alerts")

#: Seconds between delivery passes in ``run`` (retries fall due between
#: evaluations).
DISPATCH_EVERY_S = 2.0
#: How long ``once`` holds the evaluator's lease at most (a pass is seconds).
ONCE_LEASE = timedelta(minutes=15)
#: Exit status of ``once`` when another service holds the lease.
EXIT_STANDBY = 3


def run_lease(interval_s: float) -> timedelta:
    """How long ``run``'s lease outlives its renewal: three evaluation
    intervals, at least a minute (a pass's queries may take a while). A
    successor on another host waits this long after a holder dies."""
    return timedelta(seconds=max(60.0, 3 * interval_s))


def data_now() -> datetime | None:
    """``OPS_NOW`` as naive local time, or None (use the clock)."""
    pinned = os.environ.get("OPS_NOW", "").strip()
    if not pinned:
        return None
    try:
        return datetime.fromisoformat(pinned).replace(tzinfo=None, second=0, microsecond=0)
    except ValueError:
        _log.warning("OPS_NOW=%r is not an ISO date-time; using the clock", pinned)
        return None


def operational_url(explicit: str | None) -> str:
    return (
        (explicit or "").strip()
        or connection.env_url()
        or connection.sqlite_url(connection.demo_path())
    )


def engines(args: argparse.Namespace, site: SiteConfig) -> tuple[Engine, Engine]:
    ops_url = operational_url(args.db_url)
    ops = connection.make_engine(ops_url, site.statement_timeout_s, setting="--db-url / OPS_DB_URL")
    if not site.use_rollups:
        rollups.disable(ops)
    st_engine = appstate.make_engine(appstate.resolve(args.state_db), operational_url=ops_url)
    return ops, st_engine


def one_pass(
    ops: Engine,
    st_engine: Engine,
    cfg: rules.AlertConfig,
    site: SiteConfig,
    clock: Clock,
) -> tuple[evaluate.EvaluationResult, dispatch.DispatchResult]:
    ev = evaluate.evaluate_rules(ops, st_engine, cfg, site, clock, data_now())
    sent = dispatch.dispatch(st_engine, cfg, clock, site.timezone)
    return ev, sent


def _print_problems(cfg: rules.AlertConfig) -> None:
    for p in cfg.problems:
        print(f"config problem: {p}", file=sys.stderr)


def cmd_once(args: argparse.Namespace, clock: Clock) -> int:
    site = load_site_config()
    cfg = rules.load(args.config)
    _print_problems(cfg)
    ops, st_engine = engines(args, site)
    holder = lease.new_holder()
    got = lease.acquire(st_engine, holder, clock.now(), ONCE_LEASE)
    if not got.held:  # a running service does this: two would notify twice
        print(
            f"another alert service ({got.holder}) holds the lease until "
            f"{got.expires_at:%Y-%m-%d %H:%M:%S} UTC: nothing evaluated or sent",
            file=sys.stderr,
        )
        return EXIT_STANDBY
    try:
        ev, sent = one_pass(ops, st_engine, cfg, site, clock)
    finally:
        lease.release(st_engine, holder)
    for name, outcome in ev.outcomes.items():
        why = ev.errors.get(name) or ev.notes.get(name)
        extra = f" ({why})" if why else ""
        print(f"rule {name}: {outcome}{extra}")
    print(
        f"fired {len(ev.fired)}, resolved {len(ev.resolved)}, pending {len(ev.pending)}, "
        f"queued {len(ev.outbox_ids)}; sent {len(sent.sent)}, retrying {len(sent.retrying)}, "
        f"failed {len(sent.failed)}, digested {len(sent.digested)}"
    )
    return 1 if ev.errors else 0


def cmd_run(args: argparse.Namespace, clock: Clock) -> int:
    site = load_site_config()
    cfg = rules.load(args.config)
    _print_problems(cfg)
    ops, st_engine = engines(args, site)
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        _log.info("signal %s: stopping after this pass", signum)
        stop.set()

    reload = threading.Event()

    def _reload(signum: int, _frame: Any) -> None:
        reload.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGHUP, _reload)
    interval = args.interval or cfg.service.interval_s
    _log.info("alert service: %d rules, every %.0f s", len(cfg.rules), interval)
    next_eval = 0.0
    holder = lease.new_holder()
    standing_by = ""
    try:
        while not stop.is_set():
            if reload.is_set():  # SIGHUP (systemctl reload): read alerts.toml again
                reload.clear()
                cfg = rules.load(args.config)
                _print_problems(cfg)
                interval = args.interval or cfg.service.interval_s
                next_eval = 0.0
                _log.info("configuration reloaded: %d rules", len(cfg.rules))
            t = clock.now().timestamp()
            try:
                got = lease.acquire(st_engine, holder, clock.now(), run_lease(interval))
                if not got.held:  # another service evaluates: two would notify twice
                    if got.holder != standing_by:
                        _log.warning(
                            "another alert service (%s) holds the lease until %s UTC: standing by",
                            got.holder,
                            got.expires_at,
                        )
                        standing_by = got.holder
                    stop.wait(DISPATCH_EVERY_S)
                    continue
                if standing_by:
                    _log.info("took the evaluator's lease (its holder %s stopped)", standing_by)
                    standing_by = ""
                if t >= next_eval:
                    next_eval = t + interval
                    ev = evaluate.evaluate_rules(ops, st_engine, cfg, site, clock, data_now())
                    alert_store.purge(st_engine, clock.now(), cfg.service.history_days)
                    if ev.fired or ev.resolved or ev.errors:
                        _log.info(
                            "fired %d, resolved %d, unknown %s",
                            len(ev.fired),
                            len(ev.resolved),
                            sorted(ev.errors) or "none",
                        )
                dispatch.dispatch(st_engine, cfg, clock, site.timezone)
            except appstate.AppStateError as exc:  # the state database away: try again
                _log.error("app-state database: %s", exc)
            stop.wait(min(DISPATCH_EVERY_S, max(0.1, next_eval - clock.now().timestamp())))
    finally:
        try:
            lease.release(st_engine, holder)
        except appstate.AppStateError as exc:
            _log.error("app-state database: %s (the lease expires by itself)", exc)
    return 0


def cmd_test_channel(args: argparse.Namespace, clock: Clock) -> int:
    site = load_site_config()
    cfg = rules.load(args.config)
    _print_problems(cfg)
    ch = cfg.channels.get(args.name)
    if ch is None:
        print(f"no channel named {args.name!r} in {cfg.source_path}", file=sys.stderr)
        return 2
    if not ch.enabled:
        print(f"channel {args.name} is disabled (enabled = false)", file=sys.stderr)
        return 2
    _ops, st_engine = engines(args, site)
    stamp = local(clock.now(), site.timezone).strftime("%Y-%m-%d %H:%M")
    text = (
        f"这是来自区域态势感知告警服务的测试消息（{stamp}）。"
        if ch.language == "zh"
        else f"A test message from the district situational-awareness alert service ({stamp})."
    )
    with appstate.begin(st_engine, alert_store.metadata) as conn:
        row_id = alert_store.enqueue(
            conn,
            rule="test",
            group="test",
            channel=ch.name,
            kind="test",
            payload={"kind": "test", "text": text, "alerts": []},
            now=naive_utc(clock.now()),
        )
    dispatch.dispatch(st_engine, cfg, clock, site.timezone, only=[row_id])
    rows = alert_store.deliveries(st_engine, limit=50)
    mine = rows.loc[rows["outbox_id"] == row_id]
    if mine.empty:
        print(f"channel {ch.name}: not sent (rate limit reached; queued as outbox {row_id})")
        return 1
    last = mine.iloc[0].to_dict()
    error = f" - {last['error']}" if last["error"] else ""
    http = f" [HTTP {int(last['http_status'])}]" if pd.notna(last["http_status"]) else ""
    print(f"channel {ch.name} ({ch.type}): {last['outcome']}{error}{http}")
    return 0 if last["outcome"] == "sent" else 1


def cmd_status(args: argparse.Namespace, clock: Clock) -> int:
    cfg = rules.load(args.config)
    _print_problems(cfg)
    ops_url = operational_url(args.db_url)
    st_engine = appstate.make_engine(appstate.resolve(args.state_db), operational_url=ops_url)
    print(f"config: {cfg.source_path} ({len(cfg.rules)} rules, {len(cfg.channels)} channels)")
    for r in alert_store.rule_status(st_engine).to_dict("records"):
        detail = f" - {r['detail']}" if r["detail"] else ""
        print(
            f"rule {r['rule']}: {r['outcome']} at {r['evaluated_at']} UTC, "
            f"{r['instances']} instances{detail}"
        )
    inst = alert_store.instances(st_engine)
    for st_name in ("firing", "pending", "resolved"):
        part = inst.loc[inst["state"] == st_name]
        print(f"{st_name}: {len(part)}")
        for i in part.head(20).to_dict("records"):
            unk = " UNKNOWN" if i["unknown"] else ""
            print(f"  {i['rule']} {i['street_code']} {i['subject']}{unk} since {i['active_since']}")
    unknown = inst.loc[inst["unknown"].astype(bool)]
    print(f"unknown: {len(unknown)}")
    for h in alert_store.channel_health(st_engine).to_dict("records"):
        last = f"; last {h['last_outcome']} at {h['last_at']} UTC" if h["last_outcome"] else ""
        err = f" - {h['last_error']}" if h["last_error"] else ""
        print(
            f"channel {h['channel']}: sent {h['sent']}, retrying {h['retrying']}, "
            f"failed {h['failed']}, queued {h['pending']}{last}{err}"
        )
    counts = alert_store.outbox_counts(st_engine)
    print(
        "outbox: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        if counts
        else "outbox: empty"
    )
    return 0


def main(argv: list[str] | None = None, clock: Clock | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerts", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", help="alerts.toml (default OPS_ALERTS_CONFIG or config/alerts.toml)"
    )
    parser.add_argument("--db-url", help="operational database (default OPS_DB_URL or the demo)")
    parser.add_argument("--state-db", help="app-state database URL (default OPS_APPSTATE_URL)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="evaluate and deliver until stopped")
    run.add_argument("--interval", type=float, help="seconds between evaluations")
    sub.add_parser("once", help="one evaluation and delivery pass")
    tc = sub.add_parser("test-channel", help="send a test message on one channel")
    tc.add_argument("name")
    sub.add_parser("status", help="rules, instances and outbox")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    commands = {
        "run": cmd_run,
        "once": cmd_once,
        "test-channel": cmd_test_channel,
        "status": cmd_status,
    }
    try:
        return commands[args.command](args, clock or SystemClock())
    except appstate.AppStateError as exc:
        print(f"app-state database: {exc}", file=sys.stderr)
        return 2
    except connection.DatabaseUrlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
