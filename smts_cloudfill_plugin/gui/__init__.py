"""Qt widgets: the per-date table, the swipe tool, the dependency installer, the toolbar."""
