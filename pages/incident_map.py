"""Placeholder until issue #3 lands: says what will be here, shows no data."""

from ui.placeholder import placeholder_page

placeholder_page("incident_map", issue=3)
