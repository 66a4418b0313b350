"""The warning-colour rules (``config/warning_rules.toml``), loaded and validated.

Unlike the site configuration, a bad rules file is not patched with
defaults: a wrong threshold would colour items wrongly without anyone
noticing. :func:`load_warning_rules` raises :class:`WarningRulesError`
whose message names the file and the key to fix. The meaning of every key is
documented in the shipped file.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_access.config import PROJECT_ROOT

DEFAULT_RULES_PATH = PROJECT_ROOT / "config" / "warning_rules.toml"
#: Domains whose colour is computed by rule; the others come from ``warning``.
RULE_DOMAINS = ("petition", "housing")
#: The rule-judged domains' names (zh, en), for text made outside the pages
#: (alert messages); the pages' own labels are in assets/i18n/warnings.toml.
RULE_DOMAIN_NAMES = {"petition": ("信访件", "Petitions"), "housing": ("屋联码", "Housing records")}
_DOMAIN_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")


class WarningRulesError(ValueError):
    """The rules file is missing, unreadable or has a bad key (named in the message)."""


@dataclass(frozen=True)
class PetitionRules:
    """Petition (信访件) thresholds; see ``config/warning_rules.toml``."""

    repeat_red: int = 3
    due_soon_days: float = 7.0
    used_percent_yellow: float = 80.0


@dataclass(frozen=True)
class HousingRules:
    """Housing-record (屋联码) thresholds in days since ``last_verified_at``."""

    green_within_days: int = 182
    red_after_days: int = 0


@dataclass(frozen=True)
class WarningDomain:
    """A ``warning.domain`` code shown on the page, with its display names."""

    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class WarningRules:
    petition: PetitionRules = PetitionRules()
    housing: HousingRules = HousingRules()
    warning_domains: tuple[WarningDomain, ...] = ()
    source_path: str = ""

    @property
    def domains(self) -> tuple[str, ...]:
        """Every domain the page offers: ``petition``, ``housing``, then the warning domains."""
        return (*RULE_DOMAINS, *(d.code for d in self.warning_domains))

    def warning_domain(self, code: str) -> WarningDomain | None:
        for d in self.warning_domains:
            if d.code == code:
                return d
        return None

    def domain_names(self, code: str) -> tuple[str, str]:
        """``(zh, en)`` name of a domain; an unknown one by its code."""
        if code in RULE_DOMAIN_NAMES:
            return RULE_DOMAIN_NAMES[code]
        d = self.warning_domain(code)
        return (d.name_zh, d.name_en) if d is not None else (code, code)


def _number(
    table: Mapping[str, Any],
    key: str,
    path: str,
    default: float,
    *,
    integer: bool,
    minimum: float,
    maximum: float | None = None,
) -> Any:
    if key not in table:
        return default
    value = table[key]
    ok_type = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_type):
        kind = "an integer" if integer else "a number"
        raise WarningRulesError(f"{path}.{key}: expected {kind}, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum:g}" if maximum is not None else ""
        raise WarningRulesError(f"{path}.{key}: must be >= {minimum:g}{upper}, got {value!r}")
    return value if integer else float(value)


def _table(data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise WarningRulesError(f"{path}{key}: expected a table, got {value!r}")
    return value


def _no_unknown(table: Mapping[str, Any], path: str, known: tuple[str, ...]) -> None:
    for key in table:
        if key not in known:
            raise WarningRulesError(
                f"{path}.{key}: unknown key (expected one of {', '.join(known)})"
            )


def parse_warning_rules(data: Mapping[str, Any], source_path: str = "") -> WarningRules:
    """Validated rules from parsed TOML; raises :class:`WarningRulesError` naming the key."""
    _no_unknown(data, "(top level)", ("petition", "housing", "warning"))
    p = _table(data, "petition", "")
    _no_unknown(p, "petition", ("repeat_red", "due_soon_days", "used_percent_yellow"))
    d = PetitionRules()
    petition = PetitionRules(
        repeat_red=_number(p, "repeat_red", "petition", d.repeat_red, integer=True, minimum=1),
        due_soon_days=_number(
            p, "due_soon_days", "petition", d.due_soon_days, integer=False, minimum=0
        ),
        used_percent_yellow=_number(
            p,
            "used_percent_yellow",
            "petition",
            d.used_percent_yellow,
            integer=False,
            minimum=0,
            maximum=100,
        ),
    )
    h = _table(data, "housing", "")
    _no_unknown(h, "housing", ("green_within_days", "red_after_days"))
    dh = HousingRules()
    housing = HousingRules(
        green_within_days=_number(
            h, "green_within_days", "housing", dh.green_within_days, integer=True, minimum=1
        ),
        red_after_days=_number(
            h, "red_after_days", "housing", dh.red_after_days, integer=True, minimum=0
        ),
    )
    if housing.red_after_days and housing.red_after_days <= housing.green_within_days:
        raise WarningRulesError(
            f"housing.red_after_days: must be 0 (off) or more than green_within_days "
            f"({housing.green_within_days}), got {housing.red_after_days}"
        )
    w = _table(data, "warning", "")
    _no_unknown(w, "warning", ("domains",))
    domains = []
    for code, names in _table(w, "domains", "warning.").items():
        path = f"warning.domains.{code}"
        if not _DOMAIN_CODE.match(code) or code in RULE_DOMAINS:
            raise WarningRulesError(f"{path}: not a valid domain code")
        if not isinstance(names, Mapping):
            raise WarningRulesError(f'{path}: expected {{ zh = "…", en = "…" }}, got {names!r}')
        _no_unknown(names, path, ("zh", "en"))
        zh = names.get("zh")
        if not isinstance(zh, str) or not zh.strip():
            raise WarningRulesError(f"{path}.zh: expected a non-empty name")
        en = names.get("en", zh)
        if not isinstance(en, str) or not en.strip():
            raise WarningRulesError(f"{path}.en: expected a non-empty name")
        domains.append(WarningDomain(code, zh, en))
    return WarningRules(petition, housing, tuple(domains), source_path)


def rules_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The rules file: ``path``, else ``OPS_WARNING_RULES``, else the shipped file."""
    return Path(path or os.environ.get("OPS_WARNING_RULES") or DEFAULT_RULES_PATH)


def load_warning_rules(path: str | os.PathLike[str] | None = None) -> WarningRules:
    """Read and validate the rules file; raises :class:`WarningRulesError` on any problem."""
    chosen = rules_path(path)
    try:
        with chosen.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise WarningRulesError(f"{chosen}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise WarningRulesError(f"{chosen}: not valid TOML ({exc})") from exc
    try:
        return parse_warning_rules(data, str(chosen))
    except WarningRulesError as exc:
        raise WarningRulesError(f"{chosen}: {exc}") from exc
