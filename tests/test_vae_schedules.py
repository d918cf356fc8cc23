"""KL schedules: stated endpoint values, ending at β = 1, monotone warm-ups, cycles."""
import math

import pytest

from archlab.train.kl_schedules import make_schedule, progress


@pytest.mark.parametrize("kind, options, first", [
    ("linear", {"ramp": 0.3}, 0.0),
    ("linear", {"ramp": 1.0, "start": 0.2}, 0.2),
    ("cosine", {"ramp": 1.0}, 0.1),
    ("cosine", {"ramp": 0.4}, 0.1),
    ("cyclical", {"cycles": 4, "ratio": 0.5}, 0.0),
    ("cyclical", {"cycles": 1, "ratio": 1.0}, 0.0),
])
def test_annealing_schedules_start_at_stated_value_and_end_at_one(kind, options, first):
    schedule = make_schedule(kind, **options)
    assert schedule(0.0) == pytest.approx(first)
    assert schedule(1.0) == pytest.approx(1.0)
    total = 37  # the last optimisation step of a run is exactly p = 1
    assert schedule(progress(total - 1, total)) == pytest.approx(1.0)
    assert schedule(progress(0, total)) == pytest.approx(first)


def test_cosine_is_report_a_formula():
    t_over_T = [0.0, 0.25, 0.5, 0.75, 1.0]
    schedule = make_schedule("cosine", ramp=1.0)
    for p in t_over_T:
        assert schedule(p) == pytest.approx(0.1 + 0.9 * (1 - math.cos(math.pi * p)) / 2)
    assert schedule(0.5) == pytest.approx(0.55)


def test_warmups_reach_one_at_the_ramp_and_stay():
    linear = make_schedule("linear", ramp=0.3)
    cosine = make_schedule("cosine", ramp=0.4)
    assert linear(0.15) == pytest.approx(0.5)
    assert linear(0.3) == pytest.approx(1.0) and linear(0.7) == 1.0
    assert cosine(0.4) == pytest.approx(1.0) and cosine(0.9) == 1.0
    grid = [i / 100 for i in range(101)]
    for schedule in (linear, cosine):
        values = [schedule(p) for p in grid]
        assert all(b >= a for a, b in zip(values, values[1:]))


def test_cyclical_restarts_each_cycle():
    schedule = make_schedule("cyclical", cycles=4, ratio=0.5)
    for c in range(4):
        assert schedule(c / 4) == pytest.approx(0.0)        # restart at each cycle's start
        assert schedule(c / 4 + 0.0625) == pytest.approx(0.5)  # half-way up the ramp
        assert schedule(c / 4 + 0.2) == pytest.approx(1.0)   # flat after the ramp


def test_constant_and_invalid_options():
    assert make_schedule("constant", beta=8.0)(0.0) == make_schedule("constant", beta=8.0)(1.0) == 8.0
    with pytest.raises(ValueError, match="unknown KL schedule"):
        make_schedule("sigmoid")
    with pytest.raises(ValueError, match="fraction"):
        make_schedule("linear", ramp=0.0)
    with pytest.raises(ValueError, match="cycles"):
        make_schedule("cyclical", cycles=0)


def test_progress_spans_zero_to_one():
    assert [progress(s, 5) for s in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert progress(0, 1) == 1.0


def test_labels_fill_in_the_defaults():
    from archlab.train.kl_schedules import describe

    assert describe("cosine", ramp=1.0) == "cosine 0.1→1 over 100%"
    assert describe("linear", ramp=0.3) == "linear 0→1 over 30%"
    assert describe("constant", beta=10.0) == "β = 10"
    assert describe("cyclical", cycles=4, ratio=0.5) == "4 cycles 0→1, ramp 50%"


def test_final_beta_is_the_value_at_the_last_step():
    from archlab.train.kl_schedules import final_beta

    for kind, options in (("linear", {"ramp": 0.3, "start": 0.3}), ("cosine", {"ramp": 0.7, "start": 0.1}),
                          ("cyclical", {"cycles": 3, "ratio": 0.7})):
        schedule = make_schedule(kind, **options)
        assert final_beta(kind, **options) == schedule(progress(99, 100)) == pytest.approx(1.0)
    assert final_beta("constant", beta=0.5) == 0.5
