"""Packs generated from the dashboards' data layer, for people who take paper
away from a meeting: ``python -m reports weekly --week 2026-W47 --out DIR``."""
