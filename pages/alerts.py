"""告警推送 Alert delivery: firing, pending, unknown and recently resolved
alerts, their deliveries per channel, and silences (created and expired
here by roles with the ``silence`` permission, audited)."""

from __future__ import annotations

import json

import streamlit as st

from alerts import evaluate, view
from alerts import rules as alert_rules
from alerts.clock import SystemClock, local
from appstate import alerts as alert_store
from ui import auth
from ui import tables as ui_tables
from ui.data import appstate_engine, page_guard
from ui.i18n import t
from ui.shell import context, footer, page_header

ctx = context()
page_header(t("alerts.heading"), ctx)
st.caption(t("alerts.intro"))

with page_guard():
    now_utc = SystemClock().now()
    principal = auth.current_principal()
    engine = appstate_engine()
    cfg = alert_rules.load()
    for problem in cfg.problems:
        st.warning(t("alerts.config_problem", problem=problem), icon=":material/settings:")
    data = view.page_data(
        engine, now_utc, ctx.cfg.timezone, ctx.lang, principal.scope,
        ctx.area.district, ctx.area.streets, cfg,
    )  # fmt: skip
    if data.rules.empty:
        st.info(t("alerts.service_idle"), icon=":material/notifications_off:")
    else:
        last = view.last_evaluation(data.rules)
        at = local(last, ctx.cfg.timezone).strftime("%Y-%m-%d %H:%M")
        minutes = (now_utc - last).total_seconds() / 60
        if minutes * 60 > 3 * cfg.service.interval_s + 60:
            st.warning(
                t("alerts.service_stale", minutes=f"{minutes:.0f}", at=at),
                icon=":material/timer_off:",
            )
        else:
            st.caption(t("alerts.last_pass", at=at))
        for r in data.rules.loc[data.rules["outcome"] != "ok"].to_dict("records"):
            configured = cfg.rule(r["rule"])
            unjudged = configured and evaluate.unjudged_milestone(configured, ctx.cfg)
            if r["outcome"] == "not_judged" and unjudged:  # a note, not a problem
                milestone = t(f"milestone.{unjudged}")
                st.info(t("alerts.rule_not_judged", rule=r["rule"], milestone=milestone))
                continue
            key = "alerts.rule_unknown" if r["outcome"] == "unknown" else "alerts.rule_disabled"
            st.warning(t(key, rule=r["rule"], detail=r["detail"]), icon=":material/help:")
    inst = data.instances.assign(
        where=[ctx.street_name(s) for s in data.instances["street_code"]],
        state_label=[t(f"alerts.state.{s}") for s in data.instances["state"]],
        severity_label=[t(f"alerts.severity.{s}") for s in data.instances["severity"]],
        muted_label=[
            t("alerts.muted_quiet") if m == "quiet" else t("alerts.muted_silence") if m else ""
            for m in data.instances["muted"]
        ],
    )
    columns = {
        "title": t("alerts.col.rule"),
        "severity_label": t("alerts.col.severity"),
        "state_label": t("alerts.col.state"),
        "where": t("alerts.col.where"),
        "summary": t("alerts.col.summary"),
        "active_since": st.column_config.DatetimeColumn(t("alerts.col.since"), format="MM-DD HH:mm"),
        "notified_at": st.column_config.DatetimeColumn(t("alerts.col.notified_at"), format="MM-DD HH:mm"),
        "muted_label": t("alerts.col.muted"),
        "rule": t("alerts.col.rule_id"),  # what a silence matches
    }  # fmt: skip
    sections = (
        ("firing", inst.loc[(inst["state"] == "firing") & ~inst["unknown"].astype(bool)], []),
        ("pending", inst.loc[(inst["state"] == "pending") & ~inst["unknown"].astype(bool)], []),
        ("unknown", inst.loc[inst["unknown"].astype(bool)], ["detail"]),
        ("resolved", inst.loc[inst["state"] == "resolved"], ["resolved_at"]),
    )
    extra = {
        "detail": t("alerts.col.detail"),
        "resolved_at": st.column_config.DatetimeColumn(t("alerts.col.resolved_at"), format="MM-DD HH:mm"),
    }  # fmt: skip
    for key, part, more in sections:
        st.subheader(f"{t(f'alerts.{key}')} · {len(part)}")
        if part.empty:
            st.caption(t("alerts.none"))
            continue
        shown = {**columns, **{m: extra[m] for m in more}}
        phone = ["where", "title", "state_label"]  # on a phone; the figure one tap away
        ui_tables.show(part[list(shown)], ui_tables.typed(part, shown), phone=phone)

    st.subheader(t("alerts.deliveries"))
    if data.deliveries.empty:
        st.caption(t("alerts.no_deliveries"))
    else:
        summary = view.channel_summary(data.deliveries)
        ui_tables.show(
            summary,
            ui_tables.typed(
                summary,
                {
                    "channel": t("alerts.col.channel"),
                    "sent": t("alerts.status.sent"),
                    "retrying": t("alerts.status.retrying"),
                    "failed": t("alerts.status.failed"),
                    "pending": t("alerts.status.pending"),
                    "last_error": t("alerts.col.error"),
                },
            ),
            phone=["channel", "sent", "failed"],
        )
        d = data.deliveries.assign(
            status_label=[t(f"alerts.status.{s}") for s in data.deliveries["status"]],
            kind_label=[t(f"alerts.kind.{k}") for k in data.deliveries["kind"]],
        )
        ui_tables.show(
            d[["channel", "kind_label", "status_label", "attempts", "last_error", "created_at",
               "sent_at", "next_attempt_at"]],
            ui_tables.typed(d, {
                "channel": t("alerts.col.channel"),
                "kind_label": t("alerts.col.kind"),
                "status_label": t("alerts.col.status"),
                "attempts": t("alerts.col.attempts"),
                "last_error": t("alerts.col.error"),
                "created_at": st.column_config.DatetimeColumn(t("alerts.col.created_at"), format="MM-DD HH:mm:ss"),
                "sent_at": st.column_config.DatetimeColumn(t("alerts.col.sent_at"), format="MM-DD HH:mm:ss"),
                "next_attempt_at": st.column_config.DatetimeColumn(t("alerts.col.next_attempt"), format="MM-DD HH:mm:ss"),
            }), phone=["channel", "status_label", "sent_at"],
        )  # fmt: skip

    st.subheader(t("alerts.silences"))
    sil = data.silences
    if sil.empty:
        st.caption(t("alerts.no_silences"))
    else:
        ui_tables.show(
            sil.assign(matchers=[view.matcher_text(m) for m in sil["matchers"]])[
                ["id", "matchers", "comment", "created_by", "ends_at", "active"]
            ],
            ui_tables.typed(sil, {
                "id": t("alerts.col.silence_id"),
                "matchers": t("alerts.col.matchers"),
                "comment": t("alerts.col.comment"),
                "created_by": t("alerts.col.created_by"),
                "ends_at": st.column_config.DatetimeColumn(t("alerts.col.ends_at"), format="MM-DD HH:mm"),
                "active": st.column_config.CheckboxColumn(t("alerts.col.active")),
            }), phone=["matchers", "ends_at", "active"],
        )  # fmt: skip

    if not auth.allowed("silence"):
        st.caption(t("alerts.silence_not_allowed"))
    else:
        any_ = t("alerts.silence_any")
        visible = [
            s for s in ctx.streets["code"] if principal.scope is None or s in principal.scope
        ]
        with st.form("silence_create"):
            st.markdown(f"**{t('alerts.silence_create')}**")
            rule = st.selectbox(
                t("alerts.silence_rule"), [any_, *(r.name for r in cfg.rules)], key="silence_rule"
            )
            street = st.selectbox(
                t("alerts.silence_street"), [any_, *visible],
                format_func=lambda c: c if c == any_ else f"{ctx.street_name(c)} ({c})",
                key="silence_street",
            )  # fmt: skip
            hours = st.number_input(t("alerts.silence_hours"), 0.25, 720.0, 2.0, step=0.25)
            comment = st.text_input(t("alerts.silence_comment"), key="silence_comment")
            if st.form_submit_button(t("alerts.silence_submit"), key="silence_submit"):
                matchers = {k: v for k, v in (("rule", rule), ("street", street)) if v != any_}
                # A user scoped to some streets silences only one of those.
                if not matchers or (principal.scope is not None and "street" not in matchers):
                    st.error(t("alerts.silence_need_matcher"))
                elif not comment.strip():
                    st.error(t("alerts.silence_need_reason"))
                else:
                    ends = view.silence_end(now_utc, float(hours))
                    sid = alert_store.create_silence(
                        engine, matchers, ends, now_utc, principal.name or "anonymous", comment
                    )
                    auth.audit_event(
                        "silence", target=f"silence:{sid}", query=json.dumps(matchers),
                        reason=comment,
                    )  # fmt: skip
                    until = local(ends, ctx.cfg.timezone).strftime("%Y-%m-%d %H:%M")
                    st.success(t("alerts.silence_created", id=sid, until=until))
        active = sil.loc[sil["active"]] if not sil.empty else sil
        if not active.empty:
            with st.form("silence_expire"):
                st.markdown(f"**{t('alerts.silence_expire')}**")
                labels = {
                    int(r["id"]): f"#{r['id']} {view.matcher_text(r['matchers'])}"
                    for r in active.to_dict("records")
                }
                pick = st.selectbox(
                    t("alerts.silence_expire_pick"), list(labels), format_func=labels.get
                )
                submitted = st.form_submit_button(
                    t("alerts.silence_expire_submit"), key="silence_expire_submit"
                )
                if (
                    submitted
                    and pick is not None
                    and alert_store.expire_silence(engine, int(pick), now_utc)
                ):
                    auth.audit_event("silence", target=f"silence:{pick}", reason="expire")
                    st.success(t("alerts.silence_expired", id=pick))

    if not data.rules.empty:
        with st.expander(t("alerts.rules")):
            rules = data.rules.assign(
                outcome=[t(f"alerts.outcome.{o}") for o in data.rules["outcome"]]
            )
            labels = {c: t(f"alerts.col.{'rule_id' if c == 'rule' else c}") for c in rules.columns}
            ui_tables.show(rules, ui_tables.typed(rules, labels))

footer(ctx)
