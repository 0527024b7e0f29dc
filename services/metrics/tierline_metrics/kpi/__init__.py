"""KPI folds and formulas: plain Python, no I/O."""
