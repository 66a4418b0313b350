"""The alert service: rules from ``config/alerts.toml`` evaluated against the
operational database, state and outbox in the app-state database, delivered
to DingTalk / 浙政钉 / WeCom robots, webhooks and e-mail. See docs/alerts.md.

Floor 4: it measures through the metrics (:mod:`metrics.alerting` and the
pages' own figures), keeps its state through ``appstate``, and imports no
Streamlit and no other service."""
