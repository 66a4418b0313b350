"""Placeholder until issue #6 lands: says what will be here, shows no data."""

from ui.placeholder import placeholder_page

placeholder_page("command_screen", issue=6)
