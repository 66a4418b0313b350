"""The audit log as people read it: its stored codes in words.

The app-state database keeps the codes the dashboards wrote (``anonymous``,
``admin``, ``export``, ``ok``, ``page_refused`` ...: the CSV export, the
retention and the filters work on them); the 审计日志 page shows each in
the reader's language. A value with no words (a user's name, a reason
typed by a user, a file name) is shown as stored.
"""

from __future__ import annotations

import re

import pandas as pd

from ui.i18n import catalogue, translate

#: Columns whose every value is a code with words (``audit.<column>.<code>``
#: or, for roles, ``auth.role.<code>``).
_CODED = {
    "role": "auth.role",
    "auth_mode": "audit.mode",
    "action": "audit.action",
    "outcome": "audit.outcome",
}
#: Reasons the dashboards write as codes (a refusal's, a silence's expiry):
#: ``audit.reason.<code>``, else the sign-in refusal's ``auth.denied.<code>``.
_REASON_KEYS = ("audit.reason", "auth.denied")
_CASE = re.compile(r"^case (\S+)$")
_SILENCE = re.compile(r"^silence:(\d+)$")
_WALL = re.compile(r"^wall:(.+)$")


def _known(key: str) -> bool:
    return key in catalogue()


def code_words(prefix: str, code: object, lang: str) -> str:
    """``prefix.code`` in ``lang`` when the catalogue has it, else the code."""
    text = "" if code is None else str(code)
    key = f"{prefix}.{text}"
    return translate(key, lang) if text and _known(key) else text


def actor_words(actor: object, lang: str) -> str:
    text = "" if actor is None else str(actor)
    if text == "anonymous":
        return translate("audit.actor_anonymous", lang)
    wall = _WALL.match(text)
    if wall:
        return translate("audit.actor_wall", lang, name=wall.group(1))
    return text


def target_words(target: object, lang: str) -> str:
    """A target in words: ``case X``, ``silence:N``, a sign-in's login mode,
    the sign-out's cause; a page path or a file name as it is."""
    text = "" if target is None else str(target)
    if m := _CASE.match(text):
        return translate("audit.target_case", lang, case=m.group(1))
    if m := _SILENCE.match(text):
        return translate("audit.target_silence", lang, id=m.group(1))
    for prefix in ("audit.target", "audit.mode"):
        key = f"{prefix}.{text.replace(' ', '_')}"
        if text and _known(key):
            return translate(key, lang)
    return text


def reason_words(reason: object, lang: str) -> str:
    text = "" if reason is None else str(reason)
    for prefix in _REASON_KEYS:
        key = f"{prefix}.{text}"
        if text and _known(key):
            return translate(key, lang)
    return text


def display_rows(rows: pd.DataFrame, lang: str) -> pd.DataFrame:
    """``rows`` of :func:`appstate.audit.recent` with its codes in words
    (a copy; the stored frame is what the CSV export writes)."""
    out = rows.copy()
    for column, prefix in _CODED.items():
        if column in out:
            out[column] = [code_words(prefix, v, lang) for v in out[column]]
    if "actor" in out:
        out["actor"] = [actor_words(v, lang) for v in out["actor"]]
    if "target" in out:
        out["target"] = [target_words(v, lang) for v in out["target"]]
    if "reason" in out:
        out["reason"] = [reason_words(v, lang) for v in out["reason"]]
    return out
