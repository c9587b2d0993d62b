"""Training and evaluation: data, losses, metrics, the baseline, reports."""
