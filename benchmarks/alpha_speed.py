"""Speed of Krippendorff's α (interval, with missing values) against the `krippendorff` package.

Data: 10,000 units × 10 raters on a 1–7 scale, 30 % of ratings missing (seeded). Prints the best
of several runs for each implementation, the ratio, and checks that both give the same α.
Also times the 1,000-resample bootstrap CI. Run: `.venv/bin/python benchmarks/alpha_speed.py`.
"""

from __future__ import annotations

import time

import numpy as np


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    import krippendorff

    from breakfix.annotate.stats import alpha_bootstrap_ci, krippendorff_alpha

    rng = np.random.default_rng(0)
    units, raters = 10_000, 10
    truth = rng.integers(1, 8, size=units)
    data = np.clip(truth + rng.integers(-2, 3, size=(raters, units)), 1, 7).astype(float)
    data[rng.random(data.shape) < 0.3] = np.nan

    ours = krippendorff_alpha(data, "interval")
    theirs = krippendorff.alpha(data, level_of_measurement="interval")
    assert abs(ours - theirs) < 1e-9, (ours, theirs)
    t_ours = best_of(lambda: krippendorff_alpha(data, "interval"))
    t_theirs = best_of(lambda: krippendorff.alpha(data, level_of_measurement="interval"))
    print(f"data: {units} units x {raters} raters, 30% missing, interval alpha = {ours:.6f} (both agree to 1e-9)")
    print(f"breakfix.annotate.stats.krippendorff_alpha: {t_ours * 1000:8.2f} ms  (target < 1000 ms)")
    print(f"krippendorff.alpha 0.9.0:                   {t_theirs * 1000:8.2f} ms")
    print(f"ratio krippendorff / breakfix: {t_theirs / t_ours:.1f}x")
    for level in ("nominal", "ordinal", "ratio"):
        a, b = best_of(lambda: krippendorff_alpha(data, level), 3), best_of(
            lambda: krippendorff.alpha(data, level_of_measurement=level), 3)
        print(f"  {level:8s}: breakfix {a * 1000:7.2f} ms, krippendorff {b * 1000:7.2f} ms, ratio {b / a:.1f}x")
    t_boot = best_of(lambda: alpha_bootstrap_ci(data, "interval", n_boot=1000, seed=0), 1)
    print(f"bootstrap CI, 1000 resamples: {t_boot:.2f} s")
    cont = data + rng.normal(0, 0.01, size=data.shape)  # ~70,000 distinct values: the per-unit path
    t_cont = best_of(lambda: krippendorff_alpha(cont, "interval"), 3)
    print(f"continuous values (per-unit path), interval: {t_cont * 1000:.2f} ms")


if __name__ == "__main__":
    main()
