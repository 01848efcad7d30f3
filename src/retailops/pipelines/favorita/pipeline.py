"""Wiring of the ``favorita`` pipeline (not in the default run; see ``pipeline_registry``)."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from retailops.pipelines.favorita import nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Availability -> staging -> profiles, quality, cleaning -> mart, Kaggle task -> report."""
    p = "params:favorita"
    return Pipeline(
        [
            Node(nodes.load_download, p, "favorita_availability", name="favorita_load_download"),
            Node(
                nodes.require_mart_inputs,
                ["favorita_availability", p],
                "favorita_staged",
                name="favorita_require_mart_inputs",
            ),
            Node(nodes.profile_download, ["favorita_staged", p], "favorita_profile", name="favorita_profile"),
            Node(nodes.check_quality, ["favorita_staged", p], "favorita_quality", name="favorita_quality"),
            Node(nodes.clean_holidays, "favorita_staged", "favorita_holidays", name="favorita_clean_holidays"),
            Node(nodes.clean_items, "favorita_staged", "favorita_items", name="favorita_clean_items"),
            Node(nodes.clean_stores, "favorita_staged", "favorita_stores", name="favorita_clean_stores"),
            Node(
                nodes.clean_oil,
                ["favorita_staged", "favorita_holidays", p],
                "favorita_oil",
                name="favorita_clean_oil",
            ),
            Node(
                nodes.clean_transactions,
                ["favorita_staged", "favorita_stores", p],
                "favorita_transactions",
                name="favorita_clean_transactions",
            ),
            Node(
                nodes.build_store_holidays,
                ["favorita_holidays", "favorita_stores"],
                "favorita_store_holidays",
                name="favorita_store_holidays",
            ),
            Node(
                nodes.clean_train,
                ["favorita_staged", "favorita_store_holidays", p],
                "favorita_train_summary",
                name="favorita_clean_train",
            ),
            Node(
                nodes.clean_test,
                ["favorita_staged", "favorita_store_holidays", p],
                "favorita_test_summary",
                name="favorita_clean_test",
            ),
            Node(
                nodes.build_daily_sales_mart,
                [
                    "favorita_train_summary",
                    "favorita_items",
                    "favorita_stores",
                    "favorita_transactions",
                    "favorita_oil",
                    p,
                ],
                "favorita_daily_sales",
                name="favorita_daily_sales_mart",
            ),
            Node(
                nodes.score_kaggle_task,
                [
                    "favorita_train_summary",
                    "favorita_items",
                    "favorita_stores",
                    "favorita_store_holidays",
                    p,
                ],
                "favorita_kaggle_scores",
                name="favorita_kaggle_task",
            ),
            Node(
                nodes.build_report,
                [
                    "favorita_availability",
                    "favorita_quality",
                    "favorita_profile",
                    "favorita_daily_sales",
                    "favorita_oil",
                    "favorita_train_summary",
                    "favorita_kaggle_scores",
                    p,
                ],
                "favorita_report",
                name="favorita_report",
            ),
        ]
    )
