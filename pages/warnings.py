"""Placeholder until issue #5 lands: says what will be here, shows no data."""

from ui.placeholder import placeholder_page

placeholder_page("warnings", issue=5)
