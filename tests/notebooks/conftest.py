"""Fixtures for the notebook tests: the session's small platform (shared with tests/reports)."""

from __future__ import annotations

import pytest

from tests.platform_fixture import Platform, built_platform


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    return built_platform(tmp_path_factory)
