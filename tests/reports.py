"""Figures tests want shown at the end of the run (pytest_terminal_summary prints them)."""

REPORT: dict[str, str] = {}
