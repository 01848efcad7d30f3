"""A Kedro dataset whose ``load()`` is a connected :class:`MetabaseClient`.

Kedro hands credentials to datasets, not nodes, so the connection is made here: the URL and
timeout come from the catalog, the API key (or username and password) from the ``metabase``
credentials, which ``conf/base/credentials_metabase.yml`` fills from the environment and
``conf/local/credentials.yml`` may override. Nothing secret is ever written to git or logged.
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError

from retailops.dashboards.metabase.client import MetabaseClient


class MetabaseConnectionDataset(AbstractDataset[None, MetabaseClient]):
    """Read-only: loading authenticates against Metabase and returns the client."""

    def __init__(self, url: str | None = None, credentials: dict[str, Any] | None = None,
                 timeout_seconds: float = 30.0, metadata: dict[str, Any] | None = None) -> None:
        credentials = dict(credentials or {})
        self._url = credentials.pop("url", None) or url or ""
        self._credentials = {k: credentials.get(k) for k in ("api_key", "username", "password")}
        self._timeout_seconds = float(timeout_seconds)
        self.metadata = metadata

    def load(self) -> MetabaseClient:
        """Connect and authenticate (raises MetabaseError with one line on failure)."""
        return MetabaseClient(self._url, timeout_seconds=self._timeout_seconds, **self._credentials)

    def save(self, data: None) -> None:
        raise DatasetError("MetabaseConnectionDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        auth = "api_key" if self._credentials.get("api_key") else (
            "username/password" if self._credentials.get("username") else "none")
        return {"url": self._url, "auth": auth, "timeout_seconds": self._timeout_seconds}
