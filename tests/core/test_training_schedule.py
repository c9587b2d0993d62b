"""The learning-rate schedule: warm-up, then cosine decay over steps, or over time."""
from __future__ import annotations

import pytest

from smts_cloudfill_plugin.core.training.train import TrainSettings, _lr_at


def test_decay_follows_the_steps_by_default():
    s = TrainSettings(max_steps=1000, lr=1e-3)
    assert _lr_at(0, s) == pytest.approx(1e-3 / 100)          # warm-up from the first step
    assert _lr_at(100, s) == pytest.approx(1e-3)
    assert _lr_at(1000, s) == pytest.approx(0.05e-3)          # 5 % at the last step
    assert _lr_at(500, s, time_share=0.99) > 0.5e-3           # the clock is ignored


def test_decay_follows_the_clock_when_it_ends_first():
    # A run sized by time: far too many steps for the minutes; the decay follows the clock.
    s = TrainSettings(max_steps=100_000, lr=1e-3, lr_by_time=True)
    assert _lr_at(200, s, time_share=0.0) == pytest.approx(1e-3, rel=1e-3)
    assert _lr_at(200, s, time_share=0.5) == pytest.approx(0.525e-3, rel=1e-2)
    assert _lr_at(200, s, time_share=1.0) == pytest.approx(0.05e-3, rel=1e-2)
    # Steps further on than the clock: the steps lead.
    short = TrainSettings(max_steps=1000, lr=1e-3, lr_by_time=True)
    assert _lr_at(1000, short, time_share=0.1) == pytest.approx(0.05e-3)
