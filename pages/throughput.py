"""Placeholder until issue #4 lands: says what will be here, shows no data."""

from ui.placeholder import placeholder_page

placeholder_page("throughput", issue=4)
