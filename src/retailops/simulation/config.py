"""What the simulated retail chain looks like: sizes, supported dates, defect rates.

Everything the simulation draws is a function of this configuration and the day, so the same
configuration always produces the same chain and the same days.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Mapping

from retailops.errors import InvalidParameterError

GENERATOR_VERSION = "retailops-sim/2.0.0"

# The first landed day: the lake's books open here. The chain trades unseen for BURN_IN_DAYS
# before it (never landed), so the first day already has stock, orders and deliveries in
# flight at steady-state rates; those days have negative day numbers.
FIRST_DAY = date(2024, 7, 1)
# Eight weeks: longer than the longest lead time (28 days) plus a late slip (9) and a review
# period (10), so every pair has placed and received orders before day one.
BURN_IN_DAYS = 56
# The supported range (and dim_date) ends on Dec 31 of today's year + N, N from the parameter
# `calendar_years_ahead`: no end date is fixed in code, so the calendar never runs out.
MAX_YEARS_AHEAD = 100
# A purchase cycle longer than a year is a typo, and it keeps order quantities within int32.
MAX_REVIEW_PERIOD_DAYS = 365

# Sizes of the chain at scale 1 (the contract's default volumes).
STORES_AT_SCALE_1 = 60
PRODUCTS_AT_SCALE_1 = 1200
SUPPLIERS_AT_SCALE_1 = 40
SALE_LINES_PER_DAY_AT_SCALE_1 = 50_000
SNAPSHOTS_PER_DAY_AT_SCALE_1 = 4_000

# The built-in ordering policy's safety stock, in standard deviations of the demand over its
# protection interval (`simulation.safety_factor`). 1.65 (about a 95% chance a cycle does not
# run out) keeps the default chain well stocked; lower factors lose more demand to stock-outs
# (docs/realism.md measures a few). Above 5 a buyer holds stock no chain would.
DEFAULT_SAFETY_FACTOR = 1.65
MAX_SAFETY_FACTOR = 5.0
# The chain's built-in ordering rule (`simulation.builtin_policy`): the rule of issue 15
# (reorder point covering lead time + review period, ordering ahead for the promotion plan), or
# generator 1.0.0's (lead time + 1 day, no plan), to land a world that runs out often, or
# (opt-in) the rule of issue 15 with its levels set from each cell's observed sales.
BUILTIN_POLICIES = ("periodic_review", "periodic_review_before_issue_15",
                    "periodic_review_from_sales")


def last_supported_day(years_ahead: int = 1, today: date | None = None) -> date:
    """The last day runs may ask for: Dec 31 of ``today``'s year + ``years_ahead`` (>= 1), so a
    run, a promotion plan or a forecast horizon always has at least the rest of next year."""
    if (isinstance(years_ahead, bool) or not isinstance(years_ahead, int)
            or not 1 <= years_ahead <= MAX_YEARS_AHEAD):
        raise InvalidParameterError(
            f"calendar_years_ahead={years_ahead!r} must be a whole number of years "
            f"between 1 and {MAX_YEARS_AHEAD}")
    today = today or date.today()
    return date(today.year + years_ahead, 12, 31)


def whole_number(name: str, value: Any, minimum: int, maximum: int | None = None,
                 what: str = "a non-negative integer") -> int:
    """``value`` as an int, refusing fractions, booleans and text that is not a whole number
    (``int()`` alone would turn 1.7 into 1 and True into 1)."""
    number: Any = value
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if (isinstance(number, bool) or not isinstance(number, int) or number < minimum
            or (maximum is not None and number > maximum)):
        raise InvalidParameterError(f"{name}={value!r} must be {what}")
    return number


def _number(value: Any) -> Any:
    """``value`` as a float when it is a number or numeric text; anything else unchanged, for
    the configuration's own check to refuse by name (booleans stay booleans)."""
    if isinstance(value, bool):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


@dataclass(frozen=True)
class DefectRates:
    """Share of records that receive each deliberate data-quality defect."""

    duplicate_shipment_line: float = 0.01
    negative_on_hand: float = 0.005
    null_discount: float = 0.004
    missing_supplier: float = 0.02
    messy_supplier_text: float = 0.3

    def __post_init__(self) -> None:
        for name, rate in asdict(self).items():
            if not 0.0 <= float(rate) <= 1.0:
                raise InvalidParameterError(
                    f"defect rate simulation.defect_rates.{name}={rate} must be between 0 and 1"
                )


@dataclass(frozen=True)
class SimulationConfig:
    """The knobs of the simulation; ``scale`` multiplies the chain's volume."""

    seed: int = 20240701
    scale: float = 1.0
    review_period_days: int = 10
    safety_factor: float = DEFAULT_SAFETY_FACTOR
    builtin_policy: str = BUILTIN_POLICIES[0]
    defect_rates: DefectRates = field(default_factory=DefectRates)

    def __post_init__(self) -> None:
        # Seeds feed numpy's SeedSequence, which takes any non-negative integer.
        whole_number("seed", self.seed, 0)
        if not 0.001 <= float(self.scale) <= 50:
            raise InvalidParameterError(f"scale={self.scale} must be between 0.001 and 50")
        whole_number("simulation.review_period_days", self.review_period_days, 1,
                     MAX_REVIEW_PERIOD_DAYS, f"a whole number of days from 1 to "
                     f"{MAX_REVIEW_PERIOD_DAYS}")
        factor = self.safety_factor
        if (isinstance(factor, bool) or not isinstance(factor, (int, float))
                or not 0.0 <= factor <= MAX_SAFETY_FACTOR):
            raise InvalidParameterError(
                f"simulation.safety_factor={factor!r} must be a number of standard deviations "
                f"from 0 to {MAX_SAFETY_FACTOR:g}")
        if self.builtin_policy not in BUILTIN_POLICIES:
            raise InvalidParameterError(
                f"simulation.builtin_policy={self.builtin_policy!r} must be one of "
                f"{', '.join(BUILTIN_POLICIES)}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "SimulationConfig":
        """Build from the ``simulation`` parameter block (unknown keys are an error)."""
        params = dict(params or {})
        rates = dict(params.pop("defect_rates", {}) or {})
        known = {"seed", "scale", "review_period_days", "safety_factor", "builtin_policy"}
        unknown = sorted(set(params) - known)
        if unknown:
            raise InvalidParameterError(f"unknown simulation parameter(s): {', '.join(unknown)}")
        unknown_rates = sorted(set(rates) - set(DefectRates.__dataclass_fields__))
        if unknown_rates:
            raise InvalidParameterError(f"unknown defect rate(s): {', '.join(unknown_rates)}")
        seed = whole_number("seed", params.get("seed", cls.seed), 0)
        review = whole_number("simulation.review_period_days",
                              params.get("review_period_days", cls.review_period_days), 1,
                              MAX_REVIEW_PERIOD_DAYS,
                              f"a whole number of days from 1 to {MAX_REVIEW_PERIOD_DAYS}")
        try:
            return cls(
                seed=seed,
                scale=float(params.get("scale", cls.scale)),
                review_period_days=review,
                safety_factor=_number(params.get("safety_factor", cls.safety_factor)),
                builtin_policy=params.get("builtin_policy", cls.builtin_policy),
                defect_rates=DefectRates(**{k: float(v) for k, v in rates.items()}),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"simulation parameters are not numbers: {exc}") from exc

    # Stores and products both grow with the square root of scale, so cells (and volume) grow
    # linearly with it while every store still carries a realistic assortment.
    @property
    def n_stores(self) -> int:
        return max(3, round(STORES_AT_SCALE_1 * self.scale**0.5))

    @property
    def n_products(self) -> int:
        return max(40, round(PRODUCTS_AT_SCALE_1 * self.scale**0.5))

    @property
    def n_suppliers(self) -> int:
        return max(6, round(SUPPLIERS_AT_SCALE_1 * min(self.scale, 1.0) ** 0.25))

    def fingerprint(self) -> str:
        """A short hash identifying everything that changes the generated bytes."""
        payload = json.dumps(
            {"config": asdict(self), "generator": GENERATOR_VERSION}, sort_keys=True
        ).encode()
        return hashlib.sha256(payload).hexdigest()[:16]
