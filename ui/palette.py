"""One palette for every chart and map: warning level -> colour, icon, label.

Colour is never the only carrier of meaning: every level also has an icon
and a label, so it reads on a washed-out projector and for colour-blind
viewers. The hues follow the red/yellow/green the command centres use, with
lightness spread so they stay distinct in greyscale.
"""

from __future__ import annotations

from dataclasses import dataclass

from ui.i18n import t


def hex_rgb(colour: str) -> tuple[int, int, int]:
    h = colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


@dataclass(frozen=True)
class Level:
    key: str
    hex: str
    icon: str

    @property
    def rgb(self) -> tuple[int, int, int]:
        return hex_rgb(self.hex)

    def rgba(self, alpha: int = 200) -> list[int]:
        """Colour for pydeck layers ([r, g, b, a], 0-255)."""
        return [*self.rgb, alpha]

    @property
    def label(self) -> str:
        return t(f"level.{self.key}")


LEVELS: dict[str, Level] = {
    "red": Level("red", "#C62828", "▲"),
    "yellow": Level("yellow", "#F9A825", "◆"),
    "green": Level("green", "#2E7D32", "●"),
}

#: Order in stacked charts and legends: most urgent first.
LEVEL_ORDER = ("red", "yellow", "green")


def level_name(key: str) -> str:
    """``▲ 红`` / ``▲ Red``: icon and label together."""
    level = LEVELS[key]
    return f"{level.icon} {level.label}"


#: Sequential scale for densities (cases, people per cell): light to dark,
#: perceptually ordered and readable on the dark command-screen theme.
HEAT_SCALE = (
    "#FFF5EB",
    "#FDD0A2",
    "#FDAE6B",
    "#FD8D3C",
    "#E6550D",
    "#A63603",
)

ACCENT = "#1565C0"
MUTED = "#90A4AE"


def heat_rgba(fraction: float, alpha: int = 180) -> list[int]:
    """Colour of ``fraction`` (0-1, clipped) on ``HEAT_SCALE``, for pydeck."""
    f = min(max(fraction, 0.0), 1.0) * (len(HEAT_SCALE) - 1)
    i = min(int(f), len(HEAT_SCALE) - 2)
    w = f - i
    a, b = hex_rgb(HEAT_SCALE[i]), hex_rgb(HEAT_SCALE[i + 1])
    return [round(a[k] + (b[k] - a[k]) * w) for k in range(3)] + [alpha]


def plotly_heat_scale() -> list[list[float | str]]:
    n = len(HEAT_SCALE) - 1
    return [[i / n, c] for i, c in enumerate(HEAT_SCALE)]
