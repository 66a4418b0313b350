"""English words on a Chinese screen: the one allow-list the page checks
(tests/test_browser_pages_quality.py) and the wall's
(tests/test_wall_layout.py) share, so a word allowed on one is allowed on
the other and the list cannot drift apart.

A Chinese page may show Latin letters only where Chinese has no word of
its own: record ids and codes (E2026…, W000018, P90), numbers with their
unit (15min, 200MB, km), and proper names of products and formats (SQLite,
PDF, Excel). Anything else (a status "ok", a button "Upload", a column id)
is an English word left untranslated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Latin words a Chinese screen may show: ids and codes (letters then
#: digits), numbers with a unit, units, and names of formats and products;
#: statistics' symbols (:data:`SYMBOL`).
ALLOWED_WORDS = re.compile(
    r"^(?:[A-Z]+\d+|\d+[A-Za-z]*|MB|km|AI|OIDC|GBK|UTF|CSV|PDF|Excel|SQLite|PostgreSQL|MySQL"
    r"|MariaDB|Webhook|README)$"
)
#: Proper names of more than one word (a data source, a licence), taken out
#: of a text before its words are read.
PROPER_NAMES = ("Natural Earth", "GSHHG", "LGPL")
#: A statistic's symbol before its value: a sample's n (``n=17``), a
#: z-score (``z = -3.8``, ``|z| > 2``); a file name's extension (``.xlsx``).
SYMBOL = re.compile(r"\|z\||(?<![A-Za-z])[nz](?=\s*[=<>≥≤])|(?<![\w.])\.[a-z]{2,5}\b")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")

#: The visible texts with a Latin letter under ``selector`` (every match):
#: text nodes whose element is drawn (not hidden), SVG text included, but
#: not a Material icon's ligature ("schedule", "check_circle": drawn as an
#: icon), a code span (a command, a file or sheet name, a format: literal
#: on purpose), the language switch (it names each language in itself),
#: style or script.
LATIN_TEXTS_JS = """(selector) => {
  const drawn = (el) => {
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === 'none' || s.visibility === 'hidden') return false;
    }
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const skip = '[data-testid="stIconMaterial"], code, pre, kbd, .st-key-lang, style, script';
  const texts = [];
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || !/[A-Za-z]/.test(n.nodeValue) || el.closest(skip)
          || /Material Symbols/.test(getComputedStyle(el).fontFamily) || !drawn(el)) continue;
      texts.push(n.nodeValue.trim());
    }
  }
  return texts;
}"""


def latin_words(text: str, names: Iterable[str] = ()) -> list[str]:
    """The Latin words of ``text`` that are no id, unit or proper name
    (``names``: the site's own, such as its database's name)."""
    for name in sorted({*PROPER_NAMES, *names}, key=len, reverse=True):
        text = text.replace(name, " ")
    return [w for w in WORD.findall(SYMBOL.sub(" ", text)) if not ALLOWED_WORDS.match(w)]


def english_words(
    texts: Iterable[str], where: str = "the Chinese page", names: Iterable[str] = ()
) -> list[str]:
    """A problem naming the English words of ``texts`` (words or whole
    texts) and the texts they are in; empty when there are none."""
    names = tuple(names)
    hits = {t: latin_words(t, names) for t in texts}
    bad = sorted({w for words in hits.values() for w in words})
    if not bad:
        return []
    where_found = sorted(t[:80] for t, words in hits.items() if words)
    return [f"English words on {where}: {bad[:20]}", f"  in: {where_found[:10]}"]
