"""The benchmark's intervals for its latency ratios (bench.overhead.added_ratio_intervals)."""

import random

import pytest

from bench.overhead import added_ratio_intervals


def rounds_of(added: dict[str, float], drift: list[float], per_round: int = 50, noise=0.0):
    """Latencies round by round: each target's added time over direct, every target shifted
    alike by the round's drift, plus independent noise when asked."""
    rng = random.Random(1)
    return {
        target: [
            [1.0 + extra + shift + rng.uniform(0, noise) for _ in range(per_round)]
            for shift in drift
        ]
        for target, extra in {"direct": 0.0, **added}.items()
    }


def test_a_drift_that_touches_every_target_alike_leaves_the_ratio_exact():
    rounds = rounds_of({"bare": 1.0, "suite": 1.2}, drift=[0.0, 0.5, 3.0, 0.1, 7.0])
    intervals = added_ratio_intervals(rounds, ("suite",), (50, 99), resamples=200)
    for key in ("suite p50", "suite p99"):
        low, high = intervals[key]
        assert low == pytest.approx(1.2) and high == pytest.approx(1.2)


def test_noise_widens_the_interval_around_the_pooled_ratio():
    rounds = rounds_of({"bare": 1.0, "bare+stream": 1.0, "suite": 1.3}, [0.0] * 20, noise=0.5)
    intervals = added_ratio_intervals(rounds, ("suite", "bare+stream"), (50,), resamples=300)
    low, high = intervals["suite p50"]
    assert low < 1.3 < high
    assert high - low > 0.02
    low, high = intervals["bare+stream p50"]
    assert low < 1.0 < high


def test_one_round_has_no_interval():
    rounds = rounds_of({"bare": 1.0, "suite": 1.2}, drift=[0.0])
    assert added_ratio_intervals(rounds, ("suite",), (50,)) == {"suite p50": None}
