"""The world is built with whole-array draws (issue 13: its per-product Python loops grew with
the chain), and must stay the world the per-row loops drew: every field of it, at several
configurations, against digests frozen from the loop-based ``build_world`` (main at f3bf477,
before the change), so no landed byte moves. The landing's own frozen digests
(tests/ingest/test_raw_zone.py and friends) hold the files written from it."""

from __future__ import annotations

import hashlib
from dataclasses import fields

import numpy as np
import pytest

from retailops.simulation.config import SimulationConfig
from retailops.simulation.world import build_world, shared_world

CONFIGS = {
    "s0.5": {"seed": 5, "scale": 0.5},
    # 3 stores, 40 products: the smallest chain the configuration allows.
    "s0.01": {"seed": 3, "scale": 0.01},
    "s2-r3-sf1": {"seed": 9, "scale": 2, "review_period_days": 3, "safety_factor": 1.0},
    "s16": {"seed": 42, "scale": 16},
}

# sha256 (first 16 hex digits) of each field's dtype, shape and bytes, as the loop-based
# build_world of f3bf477 drew them (the same digest as _digest below).
FROZEN = {
    "s0.5": {
        "supplier_id": "5a5167cdb75b42ac", "supplier_name": "831d20ef248a3a82",
        "supplier_country": "fb57817dc41a8411", "supplier_lead_time": "0c3a3d40f6574e9e",
        "supplier_on_time_rate": "472279114eb33b52", "supplier_fill_rate": "638c8b3eb49a8e00",
        "store_id": "f54bf6900946033c", "store_name": "76350ffd50bb1e46",
        "store_city": "fe4f55c9615c7c50", "store_region": "a6e711ab15913bcf",
        "store_type": "c6c5058d7d537745", "store_cluster": "07779c4bd0214770",
        "store_size_sqft": "7c9d072cc63af782", "store_opened_date": "6be1c8c44cc8c428",
        "product_id": "379f2951e34ee241", "product_name": "9683e4ce4eea4f3e",
        "product_category": "65f47c58c9d82637", "product_category_index": "5588e1c8c54b0295",
        "product_subcategory": "20d35bb343cd4534", "product_brand": "afce5b86f133fad2",
        "product_unit_cost": "1a05a2804865d8fc", "product_list_price": "2f2f0b9eec32d2b9",
        "product_supplier": "09cf25b59bd65b26", "product_perishable": "8af207c4f5b09405",
        "product_elasticity": "abc238f3f3e72701", "product_summer_peak": "10d33bd3a7d6d819",
        "base_lines_per_day": "020c9267b25a0b9d", "reorder_point": "6f628879ca169c99",
        "order_up_to": "c98cdd90f5e815c0", "case_pack": "90ff6b47415e2356",
        "cycle_bucket": "4d0052d0f1d172b7", "cycle_days": "4ec9599fc203d176",
        "review_offset": "52b84527f5f46fb4",
    },
    "s0.01": {
        "supplier_id": "ddede58dd7f06da7", "supplier_name": "197a9e3975345335",
        "supplier_country": "93e94a6151737651", "supplier_lead_time": "6798221bfc25b94f",
        "supplier_on_time_rate": "24471b5916dff244", "supplier_fill_rate": "842b87e94eaa88da",
        "store_id": "add3cff7dd6e5d74", "store_name": "242eb2fd128edafa",
        "store_city": "5aebfe0e9215f4c1", "store_region": "31b14b72baff0906",
        "store_type": "41479d3b60c35f80", "store_cluster": "c46f2a012f1a957a",
        "store_size_sqft": "5227fad8eca5dd86", "store_opened_date": "403c43794350bb6e",
        "product_id": "dabdc284da31386b", "product_name": "5ceb1fe26470b8d9",
        "product_category": "547f82bf6bb71c69", "product_category_index": "7b1c442c7d01dc3f",
        "product_subcategory": "aeb07e5f7730acd4", "product_brand": "352a0eccf1a941a4",
        "product_unit_cost": "bd85075ac3e224f9", "product_list_price": "a47641e04395a69c",
        "product_supplier": "8443456dcc818c1a", "product_perishable": "184c2ee9992e79eb",
        "product_elasticity": "389769d30a85aa80", "product_summer_peak": "87892627df296ddd",
        "base_lines_per_day": "815ffbd85a993de9", "reorder_point": "e561d9111edeb93d",
        "order_up_to": "c7b749c61b0a2e86", "case_pack": "a6cabd2ae06db15c",
        "cycle_bucket": "a5c43b3c98d3e265", "cycle_days": "4ec9599fc203d176",
        "review_offset": "9fbbb64b1b670fcb",
    },
    "s2-r3-sf1": {
        "supplier_id": "41c25dfccb1ea026", "supplier_name": "da1221960acb8e5b",
        "supplier_country": "4e456cae512d6959", "supplier_lead_time": "793bf7d430c910df",
        "supplier_on_time_rate": "7e2be03b1c936a02", "supplier_fill_rate": "1be555efad97d697",
        "store_id": "edc8be36dfbc1679", "store_name": "5f6266cd1db35f98",
        "store_city": "0738bb5900562591", "store_region": "673b3ca906ac3b83",
        "store_type": "379672a4083cedc7", "store_cluster": "e824b6230832668e",
        "store_size_sqft": "d185888e75ac7abb", "store_opened_date": "a0d411b5d90b5153",
        "product_id": "2de6185afb1c5d65", "product_name": "e73351da40c780ba",
        "product_category": "071c1e9d2cd747cc", "product_category_index": "da8341a6dc249d7f",
        "product_subcategory": "abbfd7e652f9c33f", "product_brand": "2005c3e40c762db6",
        "product_unit_cost": "a7da6309617f38ef", "product_list_price": "98a74f6c5a646907",
        "product_supplier": "4bdb27478a861f33", "product_perishable": "28bc294c2ce42172",
        "product_elasticity": "e6c32f717ef1ddbe", "product_summer_peak": "546b79ac00395620",
        "base_lines_per_day": "5c9b919e7bb9dd8f", "reorder_point": "d4d24ac9067fffd9",
        "order_up_to": "3413fdbd803e5419", "case_pack": "ddf41205622d02f1",
        "cycle_bucket": "10bd8f8af0dbb450", "cycle_days": "4ec9599fc203d176",
        "review_offset": "efe8a08284428d48",
    },
    "s16": {
        "supplier_id": "41c25dfccb1ea026", "supplier_name": "67584465da3d9f4e",
        "supplier_country": "51d8c988f6a4f3f3", "supplier_lead_time": "8f5ce50a56304a4b",
        "supplier_on_time_rate": "4c8c1632d31dc5dd", "supplier_fill_rate": "4108637d5a8ad3e1",
        "store_id": "ea6b98df81fcc47c", "store_name": "963dce8720a25179",
        "store_city": "789882051a0d95d5", "store_region": "72da861e30af9e1e",
        "store_type": "3d2d70795e7be543", "store_cluster": "69f2dfa45ab6a636",
        "store_size_sqft": "6b5a4b9beeb4f02c", "store_opened_date": "f7f4550345c278c3",
        "product_id": "c5d352ac9f594f71", "product_name": "93a05168aad92b89",
        "product_category": "b3bc4056b8fea922", "product_category_index": "4e4e8664fb2487d2",
        "product_subcategory": "48761eab630b9ad9", "product_brand": "43a18de7dbb94e69",
        "product_unit_cost": "86a084de8fa1983e", "product_list_price": "0987b4f9d55936ca",
        "product_supplier": "c292937049c3e369", "product_perishable": "9b4bd5ef9d26dd21",
        "product_elasticity": "e48755ce3f0ae709", "product_summer_peak": "90d0e04821ced90a",
        "base_lines_per_day": "6b9aef23c465e86d", "reorder_point": "5fa9bfa6aabc9f70",
        "order_up_to": "f001f33ce9524719", "case_pack": "606ed004be4f9f93",
        "cycle_bucket": "7a1d222691ccfc24", "cycle_days": "4ec9599fc203d176",
        "review_offset": "cd1f19fe7631b597",
    },
}


def _digest(value: object) -> str:
    h = hashlib.sha256()
    if isinstance(value, np.ndarray):
        h.update(f"{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    else:
        h.update(repr(value).encode())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("key", list(CONFIGS))
def test_every_field_equals_the_loop_built_world(key):
    world = build_world(SimulationConfig.from_params(CONFIGS[key]))
    got = {item.name: _digest(getattr(world, item.name))
           for item in fields(world) if item.name != "config"}
    assert set(got) == set(FROZEN[key]), "the World's fields changed: refreeze knowingly"
    changed = sorted(name for name in got if got[name] != FROZEN[key][name])
    assert not changed, f"fields that differ from the loop-built world at {key}: {changed}"


def test_the_frozen_digests_tell_a_changed_value():
    """The digest really sees one value moved (a check that could not fail proves nothing)."""
    world = build_world(SimulationConfig.from_params(CONFIGS["s0.5"]))
    cases = world.case_pack.copy()
    cases[7] += 1
    assert _digest(cases) != FROZEN["s0.5"]["case_pack"]
    names = world.product_name.copy()
    names[0] = names[1]
    assert _digest(names) != FROZEN["s0.5"]["product_name"]
    assert _digest(world.order_up_to.astype(np.int64)) != FROZEN["s0.5"]["order_up_to"]


def test_cell_arrays_are_flat_contiguous_and_read_only_when_shared():
    shared_world.cache_clear()
    try:
        world = shared_world(SimulationConfig.from_params(CONFIGS["s0.5"]))
        for name in ("base_lines_per_day", "reorder_point", "order_up_to", "case_pack",
                     "cycle_bucket"):
            value = getattr(world, name)
            assert value.shape == (world.n_cells,), name
            assert value.flags.c_contiguous, name
            with pytest.raises(ValueError):
                value[0] = value[0]
        # Two builds of one configuration are equal field by field.
        again = build_world(world.config)
        for item in fields(world):
            a, b = getattr(world, item.name), getattr(again, item.name)
            if isinstance(a, np.ndarray):
                assert a.dtype == b.dtype and np.array_equal(a, b), item.name
            else:
                assert a == b, item.name
    finally:
        shared_world.cache_clear()
