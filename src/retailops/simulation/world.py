"""The retail chain itself: stores, products, suppliers and the demand and stocking policy of
every store × product cell. Built once from the configuration; it never changes during a run.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Callable

import numpy as np

from retailops.simulation.config import (
    SALE_LINES_PER_DAY_AT_SCALE_1,
    SNAPSHOTS_PER_DAY_AT_SCALE_1,
    STORES_AT_SCALE_1,
    PRODUCTS_AT_SCALE_1,
    SimulationConfig,
)
# Units per sale line are 1 + Poisson(UNITS_PER_LINE_EXTRA) off promotion (see demand).
from retailops.simulation.demand import UNITS_PER_LINE_EXTRA  # noqa: F401 - re-exported

# category: (subcategories, perishable, median unit cost, price elasticity, summer swing,
#            relative purchase frequency)
CATEGORIES: dict[str, tuple[tuple[str, ...], bool, float, float, float, float]] = {
    "Produce": (("Fruit", "Vegetables", "Herbs"), True, 1.3, -1.8, 0.10, 1.6),
    "Dairy": (("Milk", "Cheese", "Yogurt", "Eggs"), True, 1.9, -1.5, 0.0, 1.5),
    "Bakery": (("Bread", "Pastries", "Cakes"), True, 1.6, -1.7, 0.0, 1.3),
    "Meat & Seafood": (("Beef", "Poultry", "Pork", "Fish"), True, 5.8, -2.2, 0.12, 0.9),
    "Frozen": (("Ice Cream", "Frozen Meals", "Frozen Vegetables"), False, 2.9, -2.4, 0.20, 0.8),
    "Pantry": (("Pasta & Rice", "Canned Goods", "Sauces", "Breakfast"), False, 1.7, -2.0, 0.0, 1.0),
    "Snacks": (("Chips", "Cookies", "Chocolate", "Nuts"), False, 1.5, -2.6, 0.05, 1.1),
    "Beverages": (("Soft Drinks", "Water", "Juice", "Coffee & Tea"), False, 1.8, -2.3, 0.25, 1.2),
    "Household": (("Cleaning", "Paper Goods", "Laundry"), False, 3.3, -1.9, 0.0, 0.6),
    "Personal Care": (("Hair Care", "Oral Care", "Skin Care"), False, 3.1, -1.9, 0.03, 0.5),
    "Baby": (("Diapers", "Baby Food"), False, 6.5, -1.4, 0.0, 0.35),
    "Pet": (("Dog Food", "Cat Food", "Pet Treats"), False, 4.2, -1.7, 0.0, 0.45),
}

_BRAND_FIRST = ("Golden", "Blue", "Green", "Sunny", "Silver", "Maple", "Prairie", "Northern",
                "Coastal", "Valley", "Summit", "Red Barn", "Oak", "River", "Meadow", "Harvest")
_BRAND_SECOND = ("Acre", "Farms", "Kitchen", "Fields", "Table", "Pantry", "Orchard", "Select",
                 "Home", "Basics", "Naturals", "Gardens")
_VARIANTS = ("Classic", "Organic", "Family Pack", "Light", "Original", "Premium", "Value",
             "Fresh", "Extra", "Mini")
_SUPPLIER_WORDS = ("Atlas", "Pioneer", "Evergreen", "Keystone", "Liberty", "Horizon", "Cascade",
                   "Heritage", "Frontier", "Granite", "Beacon", "Crescent", "Sterling", "Harbor",
                   "Orchard", "Prairie", "Redwood", "Union", "Vista", "Willow")
_SUPPLIER_KINDS = ("Foods", "Provisions", "Distributors", "Trading", "Brands", "Wholesale",
                   "Supply", "Produce")
_SUPPLIER_SUFFIX = ("Inc.", "LLC", "Co.", "Ltd", "Group")
# country: (share of suppliers, nominal lead time range in days)
_COUNTRIES = {
    "USA": (0.55, (2, 7)), "Canada": (0.10, (4, 9)), "Mexico": (0.10, (5, 10)),
    "Italy": (0.05, (12, 20)), "Germany": (0.05, (12, 19)), "Netherlands": (0.04, (11, 18)),
    "Spain": (0.04, (12, 20)), "Brazil": (0.04, (14, 21)), "China": (0.03, (18, 28)),
}
# region: cities
_REGIONS = {
    "Northeast": ("Boston", "New York", "Philadelphia", "Pittsburgh", "Hartford", "Providence"),
    "Southeast": ("Atlanta", "Miami", "Charlotte", "Nashville", "Orlando", "Raleigh"),
    "Midwest": ("Chicago", "Detroit", "Minneapolis", "Columbus", "Milwaukee", "Kansas City"),
    "Southwest": ("Dallas", "Houston", "Phoenix", "Austin", "San Antonio", "Albuquerque"),
    "West": ("Los Angeles", "Seattle", "Portland", "Denver", "San Diego", "Sacramento"),
}
_DISTRICTS = ("Central", "North", "South", "East", "West", "Downtown", "Riverside", "Airport",
              "Harbor", "Park", "Hills", "Market")
# store type: (share, size range in square feet)
_STORE_TYPES = {"hypermarket": (0.15, (110_000, 200_000)),
                "supermarket": (0.55, (28_000, 70_000)),
                "express": (0.30, (4_000, 15_000))}

# Log-sd of a product's popularity (see build_world); measured shares in docs/realism.md.
POPULARITY_LOG_SD = 1.2
CYCLE_COUNT_DAYS_MIN = 7
# Stock above the reorder point an order brings, in review periods of average demand.
CYCLE_COVER = 1.2
PERISHABLE_CYCLE_COVER = 0.4


@dataclass(frozen=True)
class World:
    """Dimensions (as columns) plus the per-cell demand and stocking policy.

    Cells are store-major: cell = store_index * n_products + product_index.
    """

    config: SimulationConfig
    # suppliers
    supplier_id: np.ndarray
    supplier_name: np.ndarray
    supplier_country: np.ndarray
    supplier_lead_time: np.ndarray      # nominal days
    supplier_on_time_rate: np.ndarray   # probability a delivery arrives by its expected date
    supplier_fill_rate: np.ndarray      # probability a line is delivered in full
    # stores
    store_id: np.ndarray
    store_name: np.ndarray
    store_city: np.ndarray
    store_region: np.ndarray
    store_type: np.ndarray
    store_cluster: np.ndarray
    store_size_sqft: np.ndarray
    store_opened_date: np.ndarray
    # products
    product_id: np.ndarray
    product_name: np.ndarray
    product_category: np.ndarray
    product_category_index: np.ndarray
    product_subcategory: np.ndarray
    product_brand: np.ndarray
    product_unit_cost: np.ndarray
    product_list_price: np.ndarray
    product_supplier: np.ndarray        # supplier index
    product_perishable: np.ndarray
    product_elasticity: np.ndarray
    product_summer_peak: np.ndarray
    # cells
    base_lines_per_day: np.ndarray      # expected sale lines per cell on an average day
    reorder_point: np.ndarray
    order_up_to: np.ndarray
    case_pack: np.ndarray
    cycle_bucket: np.ndarray            # which day of the counting cycle counts the cell
    cycle_days: int
    review_offset: np.ndarray           # per (store, supplier) pair: day of the review cycle

    @property
    def n_stores(self) -> int:
        return len(self.store_id)

    @property
    def n_products(self) -> int:
        return len(self.product_id)

    @property
    def n_cells(self) -> int:
        return self.n_stores * self.n_products


def _price_ending(amount: np.ndarray) -> np.ndarray:
    """Round shelf prices to the usual .x9 endings (2.49, 3.99, ...)."""
    return np.maximum(np.floor(amount * 10) / 10 + 0.09, 0.29).round(2)


# How a store's format shifts its category mix (hypermarket, supermarket, express): big boxes
# sell the bulky household, baby and pet ranges; express stores snacks, drinks and bakery.
_FORMAT_MIX = {
    "Produce": (1.0, 1.0, 0.8), "Dairy": (1.0, 1.0, 1.1), "Bakery": (0.9, 1.0, 1.3),
    "Meat & Seafood": (1.1, 1.0, 0.6), "Frozen": (1.1, 1.0, 0.8), "Pantry": (1.1, 1.0, 0.8),
    "Snacks": (0.9, 1.0, 1.4), "Beverages": (1.0, 1.0, 1.4), "Household": (1.4, 1.0, 0.5),
    "Personal Care": (1.2, 1.0, 0.8), "Baby": (1.4, 1.0, 0.4), "Pet": (1.4, 1.0, 0.5),
}
# Per step of affluence (the band 0, 1, 2 within a format): fresh food and personal care up,
# pantry, frozen and snacks down.
_AFFLUENCE_MIX = {
    "Produce": 0.12, "Dairy": 0.04, "Bakery": 0.08, "Meat & Seafood": 0.12, "Frozen": -0.08,
    "Pantry": -0.10, "Snacks": -0.08, "Beverages": 0.0, "Household": -0.04,
    "Personal Care": 0.10, "Baby": 0.0, "Pet": 0.04,
}


def _cluster_mix(store_type: np.ndarray, affluence: np.ndarray,
                 categories: list[str]) -> np.ndarray:
    """Demand multiplier per store × category from the store's format and affluence band (the
    two that make its cluster), so clusters differ in category mix as a chain's do."""
    form = np.array([_FORMAT_MIX[c] for c in categories]).T[store_type]
    tilt = np.array([_AFFLUENCE_MIX[c] for c in categories])
    return form * (1.0 + tilt[None, :] * (affluence[:, None] - 1))


# The worlds shared_world keeps (a daily run needs one; two let a test alternate two configs).
SHARED_WORLDS = 2


def shared_world(config: SimulationConfig,
                 build: Callable[[SimulationConfig], World] | None = None) -> World:
    """The world of ``config``, built once per process: an ingest run's nodes (dimensions,
    promotion plans, the days) each ask for it, and one build serves them all. Keyed by the
    whole configuration (every field: seed, scale, review period, safety factor, built-in
    policy, defect rates) and its fingerprint (which tells 2 from 2.0, as the lake's records
    do), so two configurations never share a world. Its arrays are made read-only: a caller
    that wrote into one would change the chain for every later caller; numpy refuses the write
    instead. ``build`` makes the world when the process has none for ``config`` yet
    (``build_world`` by default; the ingest reads a kept copy, ``lake.world_store``).
    ``shared_world.cache_clear()`` forgets the worlds kept."""
    key = (config, config.fingerprint())
    world = _SHARED.pop(key, None)
    if world is None:
        world = (build or build_world)(config)
        for item in fields(world):
            value = getattr(world, item.name)
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
    _SHARED[key] = world  # the most recently asked for last
    while len(_SHARED) > SHARED_WORLDS:
        _SHARED.pop(next(iter(_SHARED)))
    return world


_SHARED: dict[tuple[SimulationConfig, str], World] = {}
shared_world.cache_clear = _SHARED.clear  # type: ignore[attr-defined]


def build_world(config: SimulationConfig) -> World:
    """Draw the chain from the configuration's seed (deterministic). Callers that only read
    the world take :func:`shared_world`, which builds it once per process."""
    rng = np.random.default_rng([config.seed, 1])
    n_sup, n_st, n_pr = config.n_suppliers, config.n_stores, config.n_products

    # --- suppliers -------------------------------------------------------------------------
    countries = list(_COUNTRIES)
    shares = np.array([_COUNTRIES[c][0] for c in countries])
    sup_country = rng.choice(len(countries), size=n_sup, p=shares / shares.sum())
    # One draw per row with that row's bounds: numpy draws an array of bounds element by element
    # from the same stream, so the values equal the former per-row scalar draws (a frozen digest
    # test, tests/ingest/test_world_cost.py, holds every array of the world to them).
    lead_range = np.array([_COUNTRIES[c][1] for c in countries])[sup_country]
    sup_lead = rng.integers(lead_range[:, 0], lead_range[:, 1], endpoint=True)
    sup_on_time = np.clip(rng.beta(12, 1.6, size=n_sup), 0.62, 0.995).round(2)
    sup_fill = np.clip(rng.beta(30, 1.5, size=n_sup), 0.85, 0.998)
    sup_names, seen = [], set()
    while len(sup_names) < n_sup:
        name = (f"{_SUPPLIER_WORDS[rng.integers(len(_SUPPLIER_WORDS))]} "
                f"{_SUPPLIER_KINDS[rng.integers(len(_SUPPLIER_KINDS))]} "
                f"{_SUPPLIER_SUFFIX[rng.integers(len(_SUPPLIER_SUFFIX))]}")
        if name not in seen:
            seen.add(name)
            sup_names.append(name)

    # --- stores ----------------------------------------------------------------------------
    types = list(_STORE_TYPES)
    type_share = np.array([_STORE_TYPES[t][0] for t in types])
    st_type = rng.choice(len(types), size=n_st, p=type_share)
    size_range = np.array([_STORE_TYPES[t][1] for t in types])[st_type]
    st_size = rng.integers(size_range[:, 0], size_range[:, 1]) // 100 * 100
    regions = list(_REGIONS)
    st_region = rng.integers(len(regions), size=n_st)
    st_city, st_name, used = [], [], set()
    named_in_region = np.zeros(len(regions), dtype=np.int64)
    for i in range(n_st):
        cities = _REGIONS[regions[st_region[i]]]
        grid = len(cities) * len(_DISTRICTS)
        # A region with more stores than names (beyond scale ~20) starts a new round of the
        # grid, numbered: "Boston North 2". The first round (every store up to that scale)
        # draws exactly as before, so default names never change; each round ends.
        round_ = named_in_region[st_region[i]] // grid
        suffix = f" {round_ + 1}" if round_ else ""
        while True:
            city = cities[rng.integers(len(cities))]
            name = f"{city} {_DISTRICTS[rng.integers(len(_DISTRICTS))]}{suffix}"
            if name not in used:
                used.add(name)
                break
        named_in_region[st_region[i]] += 1
        st_city.append(city)
        st_name.append(name)
    # Clusters group stores that trade alike: format first, then an affluence band.
    affluence = rng.integers(0, 3, size=n_st)
    st_cluster = np.minimum(st_type * 3 + affluence, 7) + 1
    opened = date(1998, 1, 1) + np.array(
        [timedelta(days=int(d)) for d in rng.integers(0, 25 * 365, size=n_st)])

    # --- products --------------------------------------------------------------------------
    cat_names = list(CATEGORIES)
    frequency = np.array([CATEGORIES[c][5] for c in cat_names])
    pr_cat = rng.choice(len(cat_names), size=n_pr, p=frequency / frequency.sum())
    pr_cat.sort()  # products numbered category by category, as in a real item master
    brands = {c: [f"{_BRAND_FIRST[a]} {_BRAND_SECOND[b]}" for a, b in zip(
        rng.permutation(len(_BRAND_FIRST))[:5], rng.integers(len(_BRAND_SECOND), size=5))]
        for c in cat_names}
    # Per product, in product order: its subcategory, brand and variant (three draws, bounds
    # the category's subcategories, its brands and the variants), drawn as one array.
    subs_of = [CATEGORIES[cat][0] for cat in cat_names]
    bounds = np.empty((n_pr, 3), dtype=np.int64)
    bounds[:, 0] = np.array([len(subs) for subs in subs_of])[pr_cat]
    bounds[:, 1] = np.array([len(brands[cat]) for cat in cat_names])[pr_cat]
    bounds[:, 2] = len(_VARIANTS)
    picks = rng.integers(0, bounds).tolist()
    cats = pr_cat.tolist()
    pr_sub = [subs_of[c][p[0]] for c, p in zip(cats, picks)]
    pr_brand = [brands[cat_names[c]][p[1]] for c, p in zip(cats, picks)]
    pr_name = [f"{brand} {sub} {_VARIANTS[p[2]]}"
               for brand, sub, p in zip(pr_brand, pr_sub, picks)]
    median_cost = np.array([CATEGORIES[cat_names[c]][2] for c in pr_cat])
    pr_cost = (median_cost * rng.lognormal(0, 0.45, size=n_pr)).round(2).clip(0.15)
    pr_price = _price_ending(pr_cost * rng.uniform(1.22, 1.75, size=n_pr))
    pr_perishable = np.array([CATEGORIES[cat_names[c]][1] for c in pr_cat])
    pr_elasticity = np.array([CATEGORIES[cat_names[c]][3] for c in pr_cat])
    pr_summer = np.array([CATEGORIES[cat_names[c]][4] for c in pr_cat])
    # Each supplier specialises in a few categories; every category has at least one supplier.
    serves = [set() for _ in range(n_sup)]
    for c in range(len(cat_names)):
        serves[c % n_sup].add(c)
    for s in range(n_sup):
        serves[s].update(rng.choice(len(cat_names), size=rng.integers(1, 3), replace=False).tolist())
    suppliers_of = [[s for s in range(n_sup) if c in serves[s]] for c in range(len(cat_names))]
    # Padded table of each category's suppliers; a product draws among its category's.
    supplier_table = np.zeros((len(cat_names), max(map(len, suppliers_of))), dtype=np.int64)
    for c, sups in enumerate(suppliers_of):
        supplier_table[c, :len(sups)] = sups
    n_suppliers_of = np.array([len(sups) for sups in suppliers_of])
    pr_supplier = supplier_table[pr_cat, rng.integers(0, n_suppliers_of[pr_cat])]

    # --- demand per cell ---------------------------------------------------------------------
    # Lognormal popularity: a grocery assortment's head is broad and its tail long (Favorita:
    # the top 1% of items sell ~10% of units, the top 20% ~60%). A Zipf law cannot give both
    # shares at once (exponent 0.5: 8%/44%; 0.75: 20%/61%); a lognormal with a log-sd near 1.1
    # gives 11%/60%. With stock-outs trimming the head, 1.2 measures 10%/62% (docs/realism.md).
    popularity = rng.lognormal(0.0, POPULARITY_LOG_SD, size=n_pr) * frequency[pr_cat]
    store_pull = (st_size / 50_000.0) ** 0.65
    local_taste = rng.lognormal(0, 0.35, size=(n_st, n_pr))
    # The cells' arithmetic is done in place on store × product arrays, with per-product terms
    # broadcast (not tiled), in the same order of operations as the plain expressions in the
    # comments, so every value is the same float (IEEE + and * are commutative, not associative).
    # weight = store_pull[:, None] * popularity[None, :] * local_taste * mix[:, pr_cat]
    weight = np.multiply.outer(store_pull, popularity)
    weight *= local_taste
    del local_taste
    weight *= _cluster_mix(st_type, affluence, cat_names)[:, pr_cat]
    cells_at_scale_1 = STORES_AT_SCALE_1 * PRODUCTS_AT_SCALE_1
    target_lines = SALE_LINES_PER_DAY_AT_SCALE_1 * (n_st * n_pr) / cells_at_scale_1
    # Stock-outs and closed days swallow some demand; aim a little above the target.
    # base_lines = (weight / weight.sum() * target_lines * 1.04).ravel()
    weight /= weight.sum()
    weight *= target_lines
    weight *= 1.04
    base_lines = weight.reshape(-1)

    # --- stocking policy: periodic review (R, s, S) ------------------------------------------
    mean_units = base_lines * (1 + UNITS_PER_LINE_EXTRA)
    units = mean_units.reshape(n_st, n_pr)
    review = config.review_period_days
    # The reorder point covers the protection interval, lead time + review period: what sells
    # before this order arrives and the next review's order can arrive (plus safety stock).
    # exposure = mean_units * (lead + review), lead the product's supplier's lead time;
    # reorder_point = ceil(exposure + safety * sqrt(exposure) + 1)
    exposure = units * (sup_lead[pr_supplier].astype(float) + review)
    safety = config.safety_factor
    cover = np.sqrt(exposure)
    cover *= safety
    cover += exposure
    del exposure
    cover += 1
    reorder_point = np.ceil(cover, out=cover).astype(np.int32)
    del cover
    case_pack = np.select([mean_units < 0.5, mean_units < 3, mean_units < 10], [1, 6, 12], 24)
    # Perishables are ordered for a short shelf life: a fraction of a review period above the
    # reorder point, so they are ordered at nearly every review in small quantities and small
    # case packs; other products carry 1.2 review periods and are ordered every other review.
    # case_pack = min(case_pack, 6) for perishables (24, the largest pack, caps the others).
    case_pack = np.minimum(case_pack.reshape(n_st, n_pr), np.where(pr_perishable, 6, 24))
    # order_up_to = reorder_point + ceil(mean_units * review * cycle_cover) + case_pack
    cycle_cover = np.where(pr_perishable, PERISHABLE_CYCLE_COVER, CYCLE_COVER)
    stock = units * review
    stock *= cycle_cover
    np.ceil(stock, out=stock)
    stock += reorder_point
    stock += case_pack
    order_up_to = stock.astype(np.int32).reshape(-1)
    del stock
    reorder_point = reorder_point.reshape(-1)
    case_pack = case_pack.reshape(-1)

    n_cells = n_st * n_pr
    cycle_days = max(CYCLE_COUNT_DAYS_MIN,
                     round(n_cells / (SNAPSHOTS_PER_DAY_AT_SCALE_1 * n_cells / cells_at_scale_1)))
    cycle_bucket = rng.permutation(n_cells)
    np.remainder(cycle_bucket, cycle_days, out=cycle_bucket)
    review_offset = rng.integers(0, review, size=(n_st, n_sup))

    return World(
        config=config,
        supplier_id=np.array([f"SUP{i + 1:03d}" for i in range(n_sup)]),
        supplier_name=np.array(sup_names),
        supplier_country=np.array([countries[c] for c in sup_country]),
        supplier_lead_time=sup_lead.astype(np.int32),
        supplier_on_time_rate=sup_on_time,
        supplier_fill_rate=sup_fill,
        store_id=np.array([f"ST{i + 1:03d}" for i in range(n_st)]),
        store_name=np.array(st_name),
        store_city=np.array(st_city),
        store_region=np.array([regions[r] for r in st_region]),
        store_type=np.array([types[t] for t in st_type]),
        store_cluster=st_cluster.astype(np.int32),
        store_size_sqft=st_size.astype(np.int32),
        store_opened_date=np.array([d.isoformat() for d in opened]),
        product_id=np.array([f"P{i + 1:05d}" for i in range(n_pr)]),
        product_name=np.array(pr_name),
        product_category=np.array([cat_names[c] for c in pr_cat]),
        product_category_index=pr_cat.astype(np.int32),
        product_subcategory=np.array(pr_sub),
        product_brand=np.array(pr_brand),
        product_unit_cost=pr_cost,
        product_list_price=pr_price,
        product_supplier=pr_supplier.astype(np.int32),
        product_perishable=pr_perishable,
        product_elasticity=pr_elasticity,
        product_summer_peak=pr_summer,
        base_lines_per_day=base_lines,
        reorder_point=reorder_point,
        order_up_to=order_up_to,
        case_pack=case_pack.astype(np.int32),
        cycle_bucket=cycle_bucket.astype(np.int32),
        cycle_days=int(cycle_days),
        review_offset=review_offset.astype(np.int32),
    )
