"""Small statistics of the analyses: exact binomial limits, rounding, grouped order statistics.

All work on whole arrays: one value per result cell (a group of an analysis), never a loop over
subjects or records. The grouped statistics reproduce numpy's (and so pandas') definitions to
the last bit, so a result computed here equals ``Series.median()`` / ``Series.quantile()``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import numpy as np

ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}
"""A method's ``rounding`` -> the decimal module's rule."""


def exact_limits(n: np.ndarray, total: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson (exact) limits, as proportions, of ``n`` successes in ``total`` trials
    at confidence ``level``: the ``(1 - level) / 2`` quantile of Beta(n, N - n + 1) and the
    ``(1 + level) / 2`` quantile of Beta(n + 1, N - n); 0 for n = 0, 1 for n = N, NaN for
    N = 0. The interval of scipy's ``binomtest(n, N).proportion_ci(level, method="exact")``,
    without its per-row root finding and the 0.7 s import of ``scipy.stats``."""
    from scipy.special import betaincinv

    n, total = np.asarray(n, dtype="float64"), np.asarray(total, dtype="float64")
    tail = (1 - level) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(n == 0, 0.0, betaincinv(np.maximum(n, 1), total - n + 1, tail))
        high = np.where(n == total, 1.0, betaincinv(n + 1, np.maximum(total - n, 1), 1 - tail))
    empty = total <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def rounded(value: float | int | Decimal, decimals: int, rule: str = "half_up") -> Decimal:
    """``value`` rounded to ``decimals`` places by ``rule`` (``half_up``: 0.5 -> 1;
    ``half_even``), in decimal arithmetic on the number as Python writes it (2.675 -> 2.68
    half up: the float's shortest text, not its binary expansion)."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUNDING[rule])


def percent_text(n: int, total: int, decimals: int, rule: str = "half_up") -> str:
    """``100 n / N`` rounded as :func:`rounded` says, from the exact fraction (not a float):
    ``percent_text(1, 8, 0)`` is ``"13"``; ``""`` when N is 0."""
    if total == 0:
        return ""
    return f"{rounded(Decimal(100 * int(n)) / Decimal(int(total)), decimals, rule):f}"


def number_text(value: float, decimals: int | None, rule: str = "half_up") -> str:
    """A statistic as shown: rounded to ``decimals`` places (all places kept: ``5.0``);
    a whole number when ``decimals`` is None (counts); ``""`` when missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if decimals is None:
        return str(int(value))
    return f"{rounded(value, decimals, rule):f}"


# --------------------------------------------------------------------------------------------
# Order statistics per group


def sorted_by_group(values: np.ndarray, groups: np.ndarray, count: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(sorted values, start, size)``: the values ordered by group then value, with each
    group's first position and size (groups 0 .. count - 1; NaN values left out)."""
    keep = ~np.isnan(values)
    values, groups = values[keep], groups[keep]
    order = np.argsort(values, kind="stable")  # by value, then (stable, a radix sort for
    small = np.int16 if count < 2**15 else np.int64  # few groups) by group
    order = order[np.argsort(groups[order].astype(small), kind="stable")]
    size = np.bincount(groups, minlength=count)
    start = np.cumsum(size) - size
    return values[order], start, size


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's interpolation between two order statistics (``numpy.lib._function_base_impl
    ._lerp``), written the same way so that the results agree to the last bit."""
    diff = b - a
    out = a + diff * t
    return np.where(t >= 0.5, b - diff * (1 - t), out)


def grouped_quantile(data: tuple[np.ndarray, np.ndarray, np.ndarray], p: float,
                     method: str = "linear") -> np.ndarray:
    """The ``p`` quantile per group of :func:`sorted_by_group`'s result (NaN: empty group).

    ``linear``: R's type 7, numpy's and pandas' default, ``x[h] + (h - floor h)(x[h+1] - x[h])``
    with ``h = (n - 1) p`` (0-based). ``averaged_inverted_cdf``: R's type 2, SAS's default
    (QNTLDEF=5): with ``j = floor(n p)``, the mean of the j-th and (j+1)-th values when n p
    is whole, else the (j+1)-th."""
    values, start, size = data
    out = np.full(len(size), np.nan)
    has = size > 0
    if not has.any():
        return out
    n, first = size[has].astype("float64"), start[has]
    if method == "linear":
        h = (n - 1) * p
        low = np.floor(h)
        gamma = h - low
        lo = first + low.astype(np.int64)
        hi = first + np.minimum(low + 1, n - 1).astype(np.int64)
        out[has] = _lerp(values[lo], values[hi], gamma)
    elif method == "averaged_inverted_cdf":
        np_ = n * p
        j = np.floor(np_)
        whole = np_ == j
        below = first + np.clip(j - 1, 0, n - 1).astype(np.int64)
        above = first + np.clip(j, 0, n - 1).astype(np.int64)
        out[has] = np.where(whole, (values[below] + values[above]) / 2, values[above])
    else:
        raise ValueError(f"unknown quantile definition {method!r}")
    return out


def grouped_median(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """The median per group, as ``numpy.median`` computes it (the mean of the two middle
    values of an even count: ``(a + b) / 2``)."""
    values, start, size = data
    out = np.full(len(size), np.nan)
    has = size > 0
    first, n = start[has], size[has]
    lo = first + (n - 1) // 2
    hi = first + n // 2
    out[has] = np.where(lo == hi, values[lo], (values[lo] + values[hi]) / 2)
    return out


def grouped_moments(values: np.ndarray, groups: np.ndarray, count: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(n, mean, sd)`` per group of the non-missing values; SD with n - 1 in the
    denominator (NaN for fewer than two values), from the deviations about the mean."""
    keep = ~np.isnan(values)
    values, groups = values[keep], groups[keep]
    n = np.bincount(groups, minlength=count).astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(groups, weights=values, minlength=count) / n
        squares = np.bincount(groups, weights=(values - mean[groups]) ** 2, minlength=count)
        sd = np.sqrt(squares / (n - 1))
    mean[n == 0] = np.nan
    sd[n < 2] = np.nan
    return n, mean, sd
