"""The supported calendar follows today's date, and bad parameter values stop a run in one line.

The calendar used to end on a hard-coded 2026-12-31; it now ends on Dec 31 of (today's year +
``calendar_years_ahead``). Seeds must be non-negative integers and flags must be booleans: they
are checked before any node runs.
"""

from __future__ import annotations

import csv
from datetime import date

import pytest

import retailops.simulation as simulation
import retailops.simulation.config as config
from retailops.errors import InvalidParameterError
from retailops.hooks import parameter_problems
from retailops.pipelines.ingest.nodes import resolve_window, simulation_config
from retailops.simulation.config import last_supported_day
from tests.conftest import conf_with_lake, run_kedro

from .helpers import tree_digest

TODAY = date.today()


# --- the calendar --------------------------------------------------------------------------

def test_the_range_ends_with_the_year_after_today_by_default():
    assert last_supported_day(1, today=date(2026, 11, 30)) == date(2027, 12, 31)
    assert last_supported_day(1, today=date(2027, 1, 1)) == date(2028, 12, 31)
    assert last_supported_day(3, today=date(2026, 11, 30)) == date(2029, 12, 31)
    assert last_supported_day() == date(TODAY.year + 1, 12, 31)


@pytest.mark.parametrize("years", [0, -1, 1.5, True, "two"])
def test_fewer_than_one_year_ahead_is_refused(years):
    with pytest.raises(InvalidParameterError, match="calendar_years_ahead="):
        last_supported_day(years, today=date(2026, 11, 30))


def test_no_fixed_last_day_is_left():
    assert not hasattr(config, "LAST_DAY")
    assert "LAST_DAY" not in simulation.__all__


def test_windows_follow_the_configured_years_ahead():
    next_year = f"{TODAY.year + 1}-12-31"
    two_ahead = f"{TODAY.year + 2}-01-04"
    assert resolve_window(None, None, next_year) == {"first": next_year, "last": next_year}
    with pytest.raises(InvalidParameterError,
                       match=f"run_date={two_ahead} is outside the supported range "
                             f"2024-07-01..{TODAY.year + 1}-12-31"):
        resolve_window(None, None, two_ahead)
    assert resolve_window("2024-07-01", two_ahead, None, calendar_years_ahead=2)["last"] == two_ahead


# --- parameter values ----------------------------------------------------------------------

@pytest.mark.parametrize("seed, message", [
    (-1, "seed=-1 must be a non-negative integer"),
    (1.7, "seed=1.7 must be a non-negative integer"),
    ("abc", "seed='abc' must be a non-negative integer"),
    (True, "seed=True must be a non-negative integer"),
    (None, "seed=None must be a non-negative integer"),
])
def test_bad_seeds_are_refused(seed, message):
    with pytest.raises(InvalidParameterError) as raised:
        simulation_config(seed, 0.05, {})
    assert str(raised.value) == message


@pytest.mark.parametrize("seed, expected", [(0, 0), (7, 7), (1000.0, 1000), ("42", 42),
                                            (2**70, 2**70)])
def test_whole_seeds_are_accepted(seed, expected):
    assert simulation_config(seed, 0.05, {}).seed == expected


@pytest.mark.parametrize("days", [0, 1.5, 400])
def test_review_periods_outside_one_to_a_year_are_refused(days):
    with pytest.raises(InvalidParameterError, match="simulation.review_period_days="):
        simulation_config(1, 0.05, {"review_period_days": days})


def _declared(**changes):
    params = {"seed": 20240701, "scale": 1.0, "overwrite": False, "calendar_years_ahead": 1,
              "start_date": "2024-07-01", "end_date": "2024-07-21", "run_date": None,
              "simulation": {"review_period_days": 10},
              "dbt": {"target": "duckdb", "full_refresh": False},
              "metabase": {"dry_run": False}}
    for key, value in changes.items():
        head, _, tail = key.partition("__")
        if tail:
            params[head] = {**params[head], tail: value}
        else:
            params[head] = value
    return params


def test_the_default_parameters_have_no_problem():
    assert parameter_problems(_declared()) == []


@pytest.mark.parametrize("flag", [True, False])
def test_boolean_flags_are_accepted(flag):
    assert parameter_problems(_declared(overwrite=flag, dbt__full_refresh=flag,
                                        metabase__dry_run=flag)) == []


def test_a_flag_declared_with_a_boolean_default_is_checked_too():
    declared = {**_declared(), "report": {"open_browser": False}}
    assert parameter_problems({**declared, "report": {"open_browser": "sure"}}, declared) == [
        "report.open_browser='sure' must be true or false"]


@pytest.mark.parametrize("key, value, message", [
    ("overwrite", "maybe", "overwrite='maybe' must be true or false"),
    ("overwrite", 1, "overwrite=1 must be true or false"),
    # a quoted "false" would be read as true by bool()
    ("overwrite", "false", "overwrite='false' must be true or false"),
    ("dbt__full_refresh", "maybe", "dbt.full_refresh='maybe' must be true or false"),
    ("metabase__dry_run", 2, "metabase.dry_run=2 must be true or false"),
    ("seed", -1, "seed=-1 must be a non-negative integer"),
    ("calendar_years_ahead", 0, "calendar_years_ahead=0 must be a whole number of years"),
    ("run_date", "2024-13-01", "run_date='2024-13-01' is not a valid date"),
    ("simulation__safety_factor", -0.5, "simulation.safety_factor=-0.5 must be a number"),
    ("simulation__safety_factor", "lots", "simulation.safety_factor='lots' must be a number"),
    ("simulation__builtin_policy", "jit",
     "simulation.builtin_policy='jit' must be one of periodic_review, "
     "periodic_review_before_issue_15"),
])
def test_each_bad_value_is_named(key, value, message):
    problems = parameter_problems(_declared(**{key: value}))
    assert len(problems) == 1 and problems[0].startswith(message), problems


# --- as a user runs it ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def lake_conf(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("calendar")
    lake = tmp / "lake"
    return conf_with_lake(tmp, str(lake)), lake


def test_a_run_dated_after_2026_lands(lake_conf):
    """2027-01-04 at a tiny scale: history replayed from 2024-07-01, the day landed."""
    conf, lake = lake_conf
    result = run_kedro("run", "--pipelines", "ingest", "--conf-source", str(conf),
                       "--params", "run_date=2027-01-04,scale=0.01")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    for table in ("sales", "inventory", "shipments"):
        assert (lake / f"metadata/manifests/{table}/dt=2027-01-04/manifest.json").is_file()
    with open(lake / "raw/sales/dt=2027-01-04/sales.csv", newline="") as f:
        sales = list(csv.DictReader(f))
    assert sales and {row["dt"] for row in sales} == {"2027-01-04"}
    assert all(row["sold_at"].startswith("2027-01-04") for row in sales)
    with open(lake / "raw/shipments/dt=2027-01-04/shipments.csv", newline="") as f:
        shipments = list(csv.DictReader(f))
    assert shipments and {row["received_date"] for row in shipments} == {"2027-01-04"}
    assert all("2026-11-01" < row["order_date"] < "2027-01-04" for row in shipments)


# Every problem of a run is named in its one line, so two runs cover them all.
@pytest.mark.parametrize("params, names", [
    (f"run_date={TODAY.year + 2}-01-01,seed=-1,overwrite=maybe,dbt.full_refresh=maybe",
     [f"run_date={TODAY.year + 2}-01-01 is outside the supported range "
      f"2024-07-01..{TODAY.year + 1}-12-31",
      "seed=-1 must be", "overwrite='maybe' must be", "dbt.full_refresh='maybe' must be"]),
    ("seed=1.7,metabase.dry_run=2,calendar_years_ahead=0",
     ["seed=1.7 must be", "metabase.dry_run=2 must be", "calendar_years_ahead=0 must be"]),
])
def test_bad_values_stop_the_run_in_one_line_before_anything_is_written(lake_conf, params, names):
    conf, lake = lake_conf
    before = tree_digest(lake) if lake.exists() else {}
    result = run_kedro("run", "--pipelines", "ingest", "--conf-source", str(conf),
                       "--params", params)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("retailops: error: "), result.stderr[-3000:]
    for name in names:
        assert name in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert (tree_digest(lake) if lake.exists() else {}) == before
