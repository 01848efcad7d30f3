"""What shoppers want before the shelf has a say: the chain's weekly promotion draws and how a
promotion lifts a product's demand. The engine draws sales from these; the built-in ordering
policy reads the same published plan to stock up ahead of a promotion.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from retailops.simulation.config import FIRST_DAY

if TYPE_CHECKING:  # the world module has no reason to know about demand
    from retailops.simulation.world import World

PROMOTION_SHARE = 0.04
PROMOTION_DISCOUNTS = np.array([0.10, 0.15, 0.20, 0.25, 0.30, 0.40])
# A shopper buys 1 + Poisson(x) units of a product; on promotion shoppers stock up, x rising by
# this much per unit of discount (0.25 -> 0.55 at 20% off). Without it a slow seller's promoted
# store-days would look like its other ones in a sales table (one line either way), however
# many more shoppers the promotion brings.
UNITS_PER_LINE_EXTRA = 0.25
STOCK_UP_PER_DISCOUNT = 1.5


def seed_word(number: int) -> int:
    """A day or week number as a non-negative seed word (numpy's SeedSequence refuses negative
    entries): 0, 1, 2, ... map to even words and -1, -2, ... (the burn-in) to odd ones, so every
    number has its own stream."""
    return 2 * number if number >= 0 else -2 * number - 1


def promotions(world: "World", day: date) -> np.ndarray:
    """Discount per product on ``day``: chain-wide weekly promotions on a few products."""
    week = (day - FIRST_DAY).days // 7
    rng = np.random.default_rng([world.config.seed, 4, seed_word(week)])
    discount = np.zeros(world.n_products)
    chosen = rng.random(world.n_products) < PROMOTION_SHARE
    discount[chosen] = rng.choice(PROMOTION_DISCOUNTS, size=int(chosen.sum()))
    return discount


def promotion_lift(world: "World", discount: np.ndarray) -> np.ndarray:
    """Per-product multiplier of shoppers (sale lines) for a price cut: constant elasticity."""
    return (1.0 - discount) ** world.product_elasticity


def extra_units_per_line(discount: np.ndarray) -> np.ndarray:
    """x of a shopper's 1 + Poisson(x) units, per product at its discount (stocking up)."""
    return UNITS_PER_LINE_EXTRA + STOCK_UP_PER_DISCOUNT * np.asarray(discount)


def promotion_units_lift(world: "World", discount: np.ndarray) -> np.ndarray:
    """Per-product multiplier of units demanded: more shoppers, each buying more."""
    return (promotion_lift(world, discount) * (1 + extra_units_per_line(discount))
            / (1 + UNITS_PER_LINE_EXTRA))
