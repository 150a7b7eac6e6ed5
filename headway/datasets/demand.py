"""Seeded generator of a realistic retail-demand table (daily sales forecasting).

One row per day, store and product: the full grid of ``days x stores x products``, sorted
by ``date``, ``store_id`` and ``product_id``, so every series has every day. Each row has
the product's category, the store's type, the shelf price (about 1% missing), a promotion
flag, a public-holiday flag and the target ``units_sold``, a count drawn from a log-linear
demand model: store size x product popularity, weekly seasonality by store type, yearly
seasonality by category, a mild trend, promotion lift, price elasticity, holiday closures
with a lift on the days before, and a latent AR(1)-like state per series (a fast and a
slow component) so that recent sales carry information beyond the calendar. The same
arguments give the same table. ``drift`` produces batches for monitoring and retraining
scenarios:

- ``"covariate"``: the population moves (prices about 15% higher, more frequent promotions,
  a higher demand level) while the rule that links features to sales stays the same;
- ``"concept"``: the features stay, the rule changes (price elasticity grows, the
  promotion lift shrinks, the weekly pattern flips so weekends sell less than weekdays).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["DEMAND_TARGET", "make_demand"]

DEMAND_TARGET = "units_sold"

Drift = Literal["covariate", "concept"]

_CATEGORIES = ["grocery", "beverages", "household", "personal_care", "snacks"]
# Per category: yearly amplitude (log), peak day of year, promo lift, price elasticity,
# typical promo discount.
_CATEGORY_PARAMS = np.array(
    [
        [0.10, 355.0, 1.3, 0.8, 0.10],  # grocery: a little higher around Christmas
        [0.40, 196.0, 1.7, 1.4, 0.15],  # beverages: summer peak
        [0.12, 100.0, 1.5, 1.2, 0.15],  # household: spring cleaning
        [0.15, 170.0, 1.6, 1.0, 0.20],  # personal_care: early summer
        [0.22, 350.0, 2.0, 1.6, 0.20],  # snacks: holiday season
    ]
)
_STORE_TYPES = ["urban", "suburban", "rural"]
_STORE_SIZE = np.array([1.25, 1.0, 0.7])
_STORE_PRICE_INDEX = np.array([1.06, 1.0, 0.96])
# Log-effect Monday..Sunday per store type (centred below): weekends sell more.
_WEEKLY = np.array(
    [
        [0.0, 0.0, 0.02, 0.05, 0.15, 0.22, 0.05],  # urban
        [-0.05, -0.05, 0.0, 0.05, 0.20, 0.40, 0.20],  # suburban
        [0.0, -0.05, -0.05, 0.0, 0.20, 0.35, -0.25],  # rural: quiet Sundays
    ]
)
_WEEKLY = _WEEKLY - _WEEKLY.mean(axis=1, keepdims=True)
_HOLIDAY_FACTOR = 0.03  # stores are mostly closed on public holidays
_PRE_HOLIDAY_LIFT = ((1, 0.35), (2, 0.15), (3, 0.08))  # (days before, lift)


def make_demand(
    n_rows: int = 60_000,
    *,
    seed: int = 0,
    n_stores: int = 4,
    n_products: int = 15,
    start: str = "2023-01-01",
    drift: Drift | None = None,
    drift_strength: float = 1.0,
) -> pd.DataFrame:
    """Generate a daily store x product sales table.

    The table is the full grid of days x stores x products with
    ``days = max(1, round(n_rows / (n_stores * n_products)))``, so it has about ``n_rows``
    rows and every series has every day.

    Args:
        n_rows: approximate number of rows; a few hundred thousand is fine.
        seed: random seed; the same arguments give the same table.
        n_stores: number of stores (``S01``, ``S02``, ...).
        n_products: number of products (``P001``, ``P002``, ...).
        start: first date (naive, daily from there).
        drift: ``None`` for the reference population, ``"covariate"`` or ``"concept"``.
        drift_strength: scale of the drift, 0 (none) to about 2 (severe).

    Returns:
        A DataFrame with ``date``, ``store_id``, ``product_id``, ``category``,
        ``store_type``, ``price`` (about 1% missing), ``promo`` (0/1), ``holiday`` (0/1) and
        the count target ``units_sold``, sorted by date, store and product.

    Raises:
        ValueError: ``n_rows``, ``n_stores`` or ``n_products`` < 1, or an unknown ``drift``.
    """
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1, got {n_rows}")
    if n_stores < 1:
        raise ValueError(f"n_stores must be >= 1, got {n_stores}")
    if n_products < 1:
        raise ValueError(f"n_products must be >= 1, got {n_products}")
    if drift not in (None, "covariate", "concept"):
        raise ValueError(f"drift must be None, 'covariate' or 'concept', got {drift!r}")
    rng = np.random.default_rng(seed)
    cov = drift_strength if drift == "covariate" else 0.0
    con = drift_strength if drift == "concept" else 0.0

    n_series = n_stores * n_products
    n_days = max(1, round(n_rows / n_series))
    first = pd.Timestamp(start)
    if first.tz is not None:
        first = first.tz_localize(None)
    dates = pd.date_range(first.normalize(), periods=n_days, freq="D", unit="ns")

    # Static attributes. Series s is store s // n_products, product s % n_products.
    store_type = rng.permutation(np.resize(np.arange(len(_STORE_TYPES)), n_stores))
    category = rng.permutation(np.resize(np.arange(len(_CATEGORIES)), n_products))
    store_size = _STORE_SIZE[store_type] * rng.lognormal(0.0, 0.1, n_stores)
    popularity = np.exp(rng.uniform(np.log(5.0), np.log(30.0), n_products))
    base_price = np.exp(rng.uniform(np.log(0.8), np.log(15.0), n_products))
    store_price = _STORE_PRICE_INDEX[store_type] * rng.normal(1.0, 0.02, n_stores)
    trend = rng.normal(0.02, 0.03, n_stores)  # log-units per year
    s_store = np.repeat(np.arange(n_stores), n_products)
    s_prod = np.tile(np.arange(n_products), n_stores)
    s_cat = category[s_prod]
    amplitude, peak, lift, elasticity, discount = _CATEGORY_PARAMS[s_cat].T

    # List prices: general inflation (2.5% a year, which shoppers do not react to) times a
    # product level that jumps to a new value around 1 about every 90 days.
    day = np.arange(n_days)[:, None]
    years = day / 365.25
    levels = rng.normal(0.0, 0.06, (n_days, n_products))
    changes = rng.random((n_days, n_products)) < 1 / 90
    changes[0] = True
    last_change = np.maximum.accumulate(np.where(changes, day, 0), axis=0)
    list_level = np.exp(np.take_along_axis(levels, last_change, 0))[:, s_prod]  # (days, series)
    ref_price = base_price[s_prod] * store_price[s_store] * np.exp(0.025 * years)

    # Promotions: runs of 3-8 days with a per-run discount depth.
    starts = rng.random((n_days, n_series)) < 0.026 * (1 + 0.7 * cov)
    run_len = rng.integers(3, 9, (n_days, n_series))
    depth = discount * rng.uniform(0.6, 1.4, (n_days, n_series))
    last_start = np.maximum.accumulate(np.where(starts, day, -1), axis=0)
    run_start = np.maximum(last_start, 0)
    promo = (last_start >= 0) & (day - last_start < np.take_along_axis(run_len, run_start, 0))
    run_depth = np.where(promo, np.take_along_axis(depth, run_start, 0), 0.0)
    price = np.round(ref_price * list_level * (1 + 0.15 * cov) * (1 - run_depth), 2)
    price = np.maximum(price, 0.01)

    # Latent state per series: a fast AR(1) (phi 0.7-0.8) plus a slow one (phi 0.98).
    phi = np.concatenate([rng.uniform(0.7, 0.8, n_series), np.full(n_series, 0.98)])
    sigma = np.concatenate([np.full(n_series, 0.18), np.full(n_series, 0.09)])
    shocks = rng.normal(0.0, 1.0, (n_days, 2 * n_series)) * sigma
    state = np.empty_like(shocks)
    state[0] = shocks[0] / np.sqrt(1 - phi**2)
    for t in range(1, n_days):
        state[t] = phi * state[t - 1] + shocks[t]
    latent = state[:, :n_series] + state[:, n_series:]

    missing_price = rng.random((n_days, n_series)) < 0.01

    # Demand: the "concept". Concept drift reweights it.
    holiday, pre_holiday = _holiday_calendar(dates)
    dow = dates.day_of_week.to_numpy()
    doy = dates.day_of_year.to_numpy()[:, None]
    weekly = _WEEKLY[store_type[s_store]][:, dow].T * float(np.clip(1 - 2 * con, -1.0, 1.0))
    log_mu = (
        np.log(store_size[s_store] * popularity[s_prod])
        + 0.15 * cov
        + weekly
        + amplitude * np.cos(2 * np.pi * (doy - peak) / 365.25)
        + trend[s_store] * years
        + np.log(lift) * max(0.0, 1 - 0.7 * con) * promo
        - elasticity * (1 + con) * np.log(price / ref_price)
        + np.log(pre_holiday)[:, None]
        + np.log(_HOLIDAY_FACTOR) * holiday[:, None]
        + latent
    )
    units = rng.poisson(np.exp(log_mu))

    store_ids = np.array([f"S{i + 1:0{max(2, len(str(n_stores)))}d}" for i in range(n_stores)])
    product_ids = np.array(
        [f"P{j + 1:0{max(3, len(str(n_products)))}d}" for j in range(n_products)]
    )
    return pd.DataFrame(
        {
            "date": np.repeat(dates.to_numpy(), n_series),
            "store_id": np.tile(store_ids[s_store], n_days).astype(object),
            "product_id": np.tile(product_ids[s_prod], n_days).astype(object),
            "category": np.tile(np.array(_CATEGORIES)[s_cat], n_days).astype(object),
            "store_type": np.tile(np.array(_STORE_TYPES)[store_type[s_store]], n_days).astype(
                object
            ),
            "price": np.where(missing_price, np.nan, price).ravel(),
            "promo": promo.ravel().astype(np.int64),
            "holiday": np.repeat(holiday.astype(np.int64), n_series),
            DEMAND_TARGET: units.ravel().astype(np.int64),
        }
    )


def _easter(year: int) -> dt.date:
    """Easter Sunday in the Gregorian calendar (anonymous algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    g = (b - (b + 8) // 25 + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday) // 451
    month, day = divmod(h + weekday - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _holiday_calendar(dates: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Public-holiday flags and the pre-holiday demand multiplier for each date."""
    holidays: list[dt.date] = []
    for year in range(dates[0].year, dates[-1].year + 2):
        easter = _easter(year)
        holidays += [
            dt.date(year, 1, 1),
            easter - dt.timedelta(days=2),  # Good Friday
            easter + dt.timedelta(days=1),  # Easter Monday
            dt.date(year, 5, 1),
            dt.date(year, 8, 15),
            dt.date(year, 11, 1),
            dt.date(year, 12, 25),
            dt.date(year, 12, 26),
        ]
    calendar = pd.DatetimeIndex(holidays).as_unit("ns")
    is_holiday = np.asarray(dates.isin(calendar))
    pre_holiday = np.ones(len(dates))
    for days_before, boost in _PRE_HOLIDAY_LIFT:
        ahead = dates + pd.Timedelta(days=days_before)
        pre_holiday *= np.where(ahead.isin(calendar), 1 + boost, 1.0)
    return is_holiday, pre_holiday
