"""Make the CJK font the weekly pack embeds: ``assets/fonts/WenQuanYiMicroHei-subset.ttf``
(run when the character set changes, commit the result).

    apt-get install fonts-wqy-microhei
    python tools/make_cjk_font.py [--source /usr/share/fonts/truetype/wqy/wqy-microhei.ttc]

Source: WenQuanYi Micro Hei 0.2.0-beta (文泉驿微米黑), Debian package
``fonts-wqy-microhei``, face 0 of ``wqy-microhei.ttc``: TrueType (``glyf``)
outlines, which reportlab can embed (it cannot embed the CFF outlines of
Noto Sans CJK), licensed Apache-2.0 (or GPL-3+ with the font exception),
embedding allowed (OS/2 fsType 8). See ``assets/fonts/SOURCES.md``.

Kept: printable ASCII and Latin-1, every character of GB/T 2312 (the 6,763
common hanzi and its symbols), the punctuation, arrows, shapes and
full-width forms the pages print, and every character of the string
catalogue (``assets/i18n``), the site configurations (``config``), the
street list (``assets/geo/streets.csv``) and the demo's names (``demo``),
so a name in the repository is never missing. Hinting and the OpenType layout tables are dropped (PDF
readers, reportlab and matplotlib's Agg use neither); the name table
(copyright, licence) is kept whole.

Deterministic: the same source and repository give a byte-identical file
(the ``head`` timestamps are the source's). Needs fontTools (tools only:
the app never imports this file).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
OUT = ROOT / "assets" / "fonts" / "WenQuanYiMicroHei-subset.ttf"

#: Unicode ranges kept whatever the repository says (inclusive).
RANGES = [
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1: ° ± · × ÷ ...
    (0x2010, 0x2027),  # dashes, quotes, bullet, ellipsis
    (0x2030, 0x203B),  # per mille, primes, reference mark
    (0x2100, 0x2122),  # ℃ № ™
    (0x2160, 0x216B),  # Roman numerals
    (0x2190, 0x2199),  # arrows
    (0x2200, 0x22FF),  # mathematical operators: √ ≤ ≥ ≠ ≈ −
    (0x2460, 0x249B),  # circled and parenthesised numbers
    (0x2500, 0x257F),  # box drawing
    (0x25A0, 0x25FF),  # geometric shapes: ▲ ▼ ● ■
    (0x2600, 0x2642),  # ★ ☆ ...
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3200, 0x32FF),  # enclosed CJK
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF01, 0xFF5E),  # full-width forms
    (0xFFE0, 0xFFE6),  # full-width signs
]

#: Text files whose every character is kept (names and strings the pack prints).
TEXT_GLOBS = ["assets/i18n/*.toml", "config/**/*.toml", "assets/geo/streets.csv", "demo/*.py"]


def gb2312() -> set[int]:
    """Every character GB/T 2312 encodes (rows 0xA1-0xF7, cells 0xA1-0xFE)."""
    out: set[int] = set()
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                out.add(ord(bytes((row, cell)).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return out


def repository_text(root: Path = ROOT) -> set[int]:
    out: set[int] = set()
    for pattern in TEXT_GLOBS:
        for path in sorted(root.glob(pattern)):
            out |= {ord(ch) for ch in path.read_text(encoding="utf-8") if ord(ch) >= 0x20}
    return out


def wanted(root: Path = ROOT) -> set[int]:
    """The code points the subset should hold (those the source has are kept)."""
    chars = gb2312() | repository_text(root)
    for lo, hi in RANGES:
        chars |= set(range(lo, hi + 1))
    return chars


def make(source: Path, out: Path) -> tuple[int, int]:
    """Write the subset; ``(characters kept, bytes)``."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(source, fontNumber=0, recalcTimestamp=False, lazy=False)
    have = set(font.getBestCmap())
    keep = sorted(wanted() & have)
    options = subset.Options()
    options.hinting = False
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.name_legacy = True
    options.notdef_outline = True
    options.glyph_names = False
    # Neither reportlab nor matplotlib shapes text with OpenType layout: the
    # tables (and the vertical-form alternates they pull in) are left out.
    options.layout_features = []
    options.drop_tables += ["FFTM", "vhea", "vmtx", "gasp", "GSUB", "GPOS", "GDEF"]
    sub = subset.Subsetter(options)
    sub.populate(unicodes=keep)
    sub.subset(font)
    out.parent.mkdir(parents=True, exist_ok=True)
    font.save(out)
    return len(keep), out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not args.source.exists():
        raise SystemExit(f"{args.source} not found: apt-get install fonts-wqy-microhei")
    kept, size = make(args.source, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()[:16]
    print(f"{args.out}: {kept:,} characters, {size:,} bytes, sha256 {digest}…")


if __name__ == "__main__":
    main()
