"""Placeholder until issue #7 lands: says what will be here, shows no data."""

from ui.placeholder import placeholder_page

placeholder_page("weekly_review", issue=7)
