"""Training and evaluation: data, losses, training runs, evaluation, the baseline, reports."""
