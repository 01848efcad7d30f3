"""Turn the simulated chain and its days into the contract's raw tables, injecting the
deliberate data-quality defects and recording each one in the defect ledger.

Columns come out in the contract's order. Everything here is in memory (Arrow tables); the
lake decides where and how they are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retailops.simulation.config import BURN_IN_DAYS, FIRST_DAY
from retailops.simulation.engine import DayActivity, SimulationState, day_number, seed_word
from retailops.simulation.world import World

LEDGER_SCHEMA = pa.schema([(name, pa.string()) for name in (
    "dt", "table_name", "defect_type", "record_key", "column_name", "recorded_value",
    "true_value")])

RAW_COLUMNS: dict[str, tuple[str, ...]] = {
    "products": ("product_id", "product_name", "category", "subcategory", "brand", "unit_cost",
                 "list_price", "supplier_id", "is_perishable"),
    "stores": ("store_id", "store_name", "city", "region", "store_type", "cluster", "size_sqft",
               "opened_date"),
    "suppliers": ("supplier_id", "supplier_name", "country", "lead_time", "on_time_rate"),
    "sales": ("sale_id", "sold_at", "store_id", "product_id", "quantity", "unit_price",
              "discount_pct", "dt"),
    "inventory": ("snapshot_date", "store_id", "product_id", "quantity_on_hand",
                  "quantity_on_order", "reorder_point"),
    "shipments": ("shipment_id", "line_number", "supplier_id", "store_id", "product_id",
                  "order_date", "expected_date", "received_date", "quantity_ordered",
                  "quantity_received"),
    "promotions": ("published_date", "product_id", "start_date", "end_date", "discount_pct"),
}
DIMENSION_TABLES = ("products", "stores", "suppliers")
# The daily facts: every simulated day has a partition of each.
FACT_TABLES = ("sales", "inventory", "shipments")
# Partitioned like the facts, but only on Mondays (simulation/promotions.py): a day is complete
# without one, so completeness of a day never asks for these.
WEEKLY_TABLES = ("promotions",)


@dataclass
class DimensionBatch:
    """The three dimension tables and the ledger of their defects."""

    tables: dict[str, pa.Table]
    defects: pa.Table


@dataclass
class DayBatch:
    """One simulated day, ready to land: fact tables, defect ledger, ground truth, end state."""

    day: date
    tables: dict[str, pa.Table]
    defects: pa.Table
    truth: pa.Table
    state: SimulationState
    orders_placed: int

    @property
    def sale_lines(self) -> int:
        return self.tables["sales"].num_rows


def _ledger(rows: list[dict[str, object]] | dict[str, list]) -> pa.Table:
    if isinstance(rows, list):
        rows = {name: [r.get(name) for r in rows] for name in LEDGER_SCHEMA.names}
    return pa.table({name: pa.array(rows[name], pa.string()) for name in LEDGER_SCHEMA.names},
                    schema=LEDGER_SCHEMA)


def _defect_rng(world: World, stream: int, day: date | None = None) -> np.random.Generator:
    key = [world.config.seed, 5, stream] + ([seed_word(day_number(day))] if day else [])
    return np.random.default_rng(key)


# The calendar has no fixed end (see config.last_supported_day): the lookup grows in blocks.
_CALENDAR_BLOCK_DAYS = 4 * 366


@lru_cache(maxsize=4)
def _calendar_strings(blocks: int) -> pa.Array:
    """ISO strings of the burn-in's days and ``blocks`` x 4 years from the first landed day
    (a delivery received early in the lake was ordered during the burn-in)."""
    return pa.array([(FIRST_DAY + timedelta(days=i)).isoformat()
                     for i in range(-BURN_IN_DAYS, blocks * _CALENDAR_BLOCK_DAYS)])


@lru_cache(maxsize=1)
def _clock_strings() -> pa.Array:
    """"HH:MM:SS" for every second of a day (a lookup is much faster than strftime), built as
    one block of fixed-width text: a daily run is a new process, and formatting 86,400
    strings in Python cost it ~0.05 s of CPU (~0.5 s on a loaded machine)."""
    second = np.arange(86_400)
    fields = (second // 3600, second // 60 % 60, second % 60)
    text = np.full((second.size, 8), ord(":"), dtype=np.uint8)
    for position, value in zip((0, 3, 6), fields):
        text[:, position] = ord("0") + value // 10
        text[:, position + 1] = ord("0") + value % 10
    offsets = np.arange(0, text.size + 1, 8, dtype=np.int32)
    return pa.StringArray.from_buffers(second.size, pa.py_buffer(offsets), pa.py_buffer(text))


def _constant_text(value: str, n: int) -> pa.Array:
    """``n`` copies of one string (a day's date on each of its lines), laid out directly as
    the array's buffers: ``pa.repeat`` took ~0.04 s for a scale-16 day's ~0.8M sale lines,
    this ~0.005 s."""
    text = np.frombuffer(value.encode(), dtype=np.uint8)
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(text.size)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets),
                                       pa.py_buffer(np.tile(text, n)))


def _iso_days(days: np.ndarray) -> pa.Array:
    """Day numbers since the first landed day (burn-in days negative) as ISO date strings."""
    last = int(np.max(days)) if len(days) else 0
    return pc.take(_calendar_strings(last // _CALENDAR_BLOCK_DAYS + 1),
                   pa.array(np.asarray(days, dtype=np.int64) + BURN_IN_DAYS, pa.int32()))


def _text(values: np.ndarray) -> pa.Array:
    return pa.array(values.tolist(), pa.string())


def _looked_up(values: pa.Array, indices: np.ndarray) -> pa.DictionaryArray:
    """``values[indices]`` as a dictionary array: a fact table's ids and the sales' timestamps.
    The CSV writer writes the same text from it, piece by piece on the landing's encoding
    threads; taken here (``pc.take``), a scale-16 day's three text columns of sales cost
    0.1-0.2 s on the landing's own thread, and ~40 MB of fresh memory."""
    return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), values)


def _messy_lead_time(days: int, rng: np.random.Generator) -> str:
    variants = [f"{days}d", f"{days} Days", f" {days} days "]
    if days % 7 == 0:
        weeks = days // 7
        variants.append("1 week" if weeks == 1 else f"{weeks} weeks")
    return variants[rng.integers(len(variants))]


def _messy_rate(rate: float, rng: np.random.Generator) -> str:
    percent = round(rate * 100)
    return [f"{rate:.2f}", f"{percent} %", f" {percent}% "][rng.integers(3)]


def dimension_tables(world: World) -> DimensionBatch:
    """Products, stores and suppliers as raw text, with their defects recorded."""
    rates = world.config.defect_rates
    rng = _defect_rng(world, 1)
    ledger: list[dict[str, object]] = []

    supplier_of = world.supplier_id[world.product_supplier].astype(object)
    missing = np.flatnonzero(rng.random(world.n_products) < rates.missing_supplier)
    for i in missing:
        ledger.append({"table_name": "products", "defect_type": "missing_supplier",
                       "record_key": world.product_id[i], "column_name": "supplier_id",
                       "recorded_value": None, "true_value": supplier_of[i]})
    supplier_of[missing] = None
    products = pa.table({
        "product_id": _text(world.product_id), "product_name": _text(world.product_name),
        "category": _text(world.product_category), "subcategory": _text(world.product_subcategory),
        "brand": _text(world.product_brand),
        "unit_cost": pa.array(world.product_unit_cost, pa.float64()),
        "list_price": pa.array(world.product_list_price, pa.float64()),
        "supplier_id": pa.array(supplier_of.tolist(), pa.string()),
        "is_perishable": pa.array(world.product_perishable, pa.bool_()),
    })
    stores = pa.table({
        "store_id": _text(world.store_id), "store_name": _text(world.store_name),
        "city": _text(world.store_city), "region": _text(world.store_region),
        "store_type": _text(world.store_type),
        "cluster": pa.array(world.store_cluster, pa.int32()),
        "size_sqft": pa.array(world.store_size_sqft, pa.int32()),
        "opened_date": _text(world.store_opened_date),
    })
    lead_text, rate_text = [], []
    for i, sid in enumerate(world.supplier_id):
        lead, rate = int(world.supplier_lead_time[i]), float(world.supplier_on_time_rate[i])
        lead_value, rate_value = f"{lead} days", f"{round(rate * 100)}%"
        if rng.random() < rates.messy_supplier_text:
            lead_value = _messy_lead_time(lead, rng)
            ledger.append({"table_name": "suppliers", "defect_type": "messy_supplier_text",
                           "record_key": sid, "column_name": "lead_time",
                           "recorded_value": lead_value, "true_value": str(lead)})
        if rng.random() < rates.messy_supplier_text:
            rate_value = _messy_rate(rate, rng)
            ledger.append({"table_name": "suppliers", "defect_type": "messy_supplier_text",
                           "record_key": sid, "column_name": "on_time_rate",
                           "recorded_value": rate_value, "true_value": f"{rate:.2f}"})
        lead_text.append(lead_value)
        rate_text.append(rate_value)
    suppliers = pa.table({
        "supplier_id": _text(world.supplier_id), "supplier_name": _text(world.supplier_name),
        "country": _text(world.supplier_country),
        "lead_time": pa.array(lead_text, pa.string()),
        "on_time_rate": pa.array(rate_text, pa.string()),
    })
    for row in ledger:
        row["dt"] = None
    return DimensionBatch({"products": products, "stores": stores, "suppliers": suppliers},
                          _ledger(ledger))


def _sales(world: World, activity: DayActivity, rng: np.random.Generator,
           dt: str) -> tuple[pa.Table, pa.Table]:
    n = activity.sale_quantity.size
    sale_id = int(activity.day.strftime("%Y%m%d")) * 10_000_000 + np.arange(1, n + 1, dtype=np.int64)
    discount = pa.array(activity.sale_discount, pa.float64())
    blank = np.flatnonzero(rng.random(n) < world.config.defect_rates.null_discount)
    if blank.size:
        mask = np.zeros(n, dtype=bool)
        mask[blank] = True
        discount = pc.if_else(pa.array(mask), pa.scalar(None, pa.float64()), discount)
    sales = pa.table({
        "sale_id": pa.array(sale_id, pa.int64()),
        # The day's 86,400 timestamps are joined once and looked up (not joined per line).
        "sold_at": _looked_up(pc.binary_join_element_wise(f"{dt}T", _clock_strings(), ""),
                              activity.sale_seconds),
        "store_id": _looked_up(_text(world.store_id), activity.sale_store),
        "product_id": _looked_up(_text(world.product_id), activity.sale_product),
        "quantity": pa.array(activity.sale_quantity, pa.int32()),
        "unit_price": pa.array(activity.sale_unit_price, pa.float64()),
        "discount_pct": discount,
        "dt": _constant_text(dt, n),
    })
    ledger = {
        "dt": [dt] * blank.size, "table_name": ["sales"] * blank.size,
        "defect_type": ["null_discount"] * blank.size,
        "record_key": [str(v) for v in sale_id[blank]], "column_name": ["discount_pct"] * blank.size,
        "recorded_value": [None] * blank.size,
        "true_value": [f"{v:g}" for v in activity.sale_discount[blank]],
    }
    return sales, _ledger(ledger)


def _inventory(world: World, activity: DayActivity, rng: np.random.Generator,
               dt: str) -> tuple[pa.Table, pa.Table]:
    cells = activity.count_cell
    store, product = cells // world.n_products, cells % world.n_products
    on_hand = activity.count_on_hand.astype(np.int64)
    bad = np.flatnonzero(rng.random(cells.size) < world.config.defect_rates.negative_on_hand)
    recorded = on_hand.copy()
    recorded[bad] = np.where(on_hand[bad] > 0, -on_hand[bad], -rng.integers(1, 6, size=bad.size))
    store_ids = _looked_up(_text(world.store_id), store)
    product_ids = _looked_up(_text(world.product_id), product)
    inventory = pa.table({
        "snapshot_date": _constant_text(dt, cells.size),
        "store_id": store_ids, "product_id": product_ids,
        "quantity_on_hand": pa.array(recorded, pa.int64()),
        "quantity_on_order": pa.array(activity.count_on_order, pa.int64()),
        "reorder_point": pa.array(world.reorder_point[cells], pa.int64()),
    })
    keys = [f"{dt}|{world.store_id[store[i]]}|{world.product_id[product[i]]}" for i in bad]
    ledger = {
        "dt": [dt] * bad.size, "table_name": ["inventory"] * bad.size,
        "defect_type": ["negative_on_hand"] * bad.size, "record_key": keys,
        "column_name": ["quantity_on_hand"] * bad.size,
        "recorded_value": [str(v) for v in recorded[bad]],
        "true_value": [str(v) for v in on_hand[bad]],
    }
    return inventory, _ledger(ledger)


def _shipments(world: World, activity: DayActivity, rng: np.random.Generator,
               dt: str) -> tuple[pa.Table, pa.Table]:
    lines = activity.received
    n = lines["shipment_id"].size
    duplicated = rng.random(n) < world.config.defect_rates.duplicate_shipment_line
    # A duplicated line appears twice in a row, as a double-scanned delivery note would show.
    rows = np.repeat(np.arange(n), np.where(duplicated, 2, 1))
    col = {k: v[rows] for k, v in lines.items()}
    shipments = pa.table({
        "shipment_id": pa.array(col["shipment_id"], pa.int64()),
        "line_number": pa.array(col["line_number"], pa.int32()),
        "supplier_id": _looked_up(_text(world.supplier_id), col["supplier"]),
        "store_id": _looked_up(_text(world.store_id), col["store"]),
        "product_id": _looked_up(_text(world.product_id), col["product"]),
        "order_date": _iso_days(col["order_day"]),
        "expected_date": _iso_days(col["expected_day"]),
        "received_date": _iso_days(col["received_day"]),
        "quantity_ordered": pa.array(col["quantity_ordered"], pa.int64()),
        "quantity_received": pa.array(col["quantity_received"], pa.int64()),
    })
    dup = np.flatnonzero(duplicated)
    ledger = {
        "dt": [dt] * dup.size, "table_name": ["shipments"] * dup.size,
        "defect_type": ["duplicate_shipment_line"] * dup.size,
        "record_key": [f"{lines['shipment_id'][i]}|{lines['line_number'][i]}" for i in dup],
        "column_name": [None] * dup.size, "recorded_value": [None] * dup.size,
        "true_value": [None] * dup.size,
    }
    return shipments, _ledger(ledger)


def _truth(world: World, activity: DayActivity) -> pa.Table:
    store_index = np.repeat(np.arange(world.n_stores, dtype=np.int32), world.n_products)
    product_index = np.tile(np.arange(world.n_products, dtype=np.int32), world.n_stores)
    return pa.table({
        "store_id": pa.DictionaryArray.from_arrays(pa.array(store_index),
                                                   _text(world.store_id)),
        "product_id": pa.DictionaryArray.from_arrays(pa.array(product_index),
                                                     _text(world.product_id)),
        "expected_units": pa.array(activity.expected_units, pa.float32()),
        "demanded_units": pa.array(activity.demanded_units, pa.int32()),
        "sold_units": pa.array(activity.sold_units, pa.int32()),
        "lost_units": pa.array(activity.demanded_units - activity.sold_units, pa.int32()),
        "on_promotion": pa.array(activity.on_promotion, pa.bool_()),
    })


def day_batch(world: World, activity: DayActivity, state: SimulationState) -> DayBatch:
    """Format one simulated day as raw tables with defects, ledger and ground truth."""
    dt = activity.day.isoformat()
    sales, sales_defects = _sales(world, activity, _defect_rng(world, 2, activity.day), dt)
    inventory, inventory_defects = _inventory(world, activity, _defect_rng(world, 3, activity.day), dt)
    shipments, shipment_defects = _shipments(world, activity, _defect_rng(world, 4, activity.day), dt)
    return DayBatch(
        day=activity.day,
        tables={"sales": sales, "inventory": inventory, "shipments": shipments},
        defects=pa.concat_tables([sales_defects, inventory_defects, shipment_defects]),
        truth=_truth(world, activity),
        state=state,
        orders_placed=activity.orders_placed,
    )
