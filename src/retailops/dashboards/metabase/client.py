"""A small client for Metabase's REST API, with ``metabase-api`` as the HTTP transport.

``metabase-api`` hides error bodies, has no timeouts and still calls endpoints Metabase removed,
so only its authenticated get/post/put (in ``'raw'`` mode) are used here. Every failure becomes
one :class:`MetabaseError` line naming what was being done, the request and the instance.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from metabase_api import Metabase_API

from retailops.dashboards.metabase.errors import MetabaseError


def _detail(response: requests.Response) -> str:
    """The shortest useful reason from a Metabase error body (JSON or plain text), on one line."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        body = (body.get("message") or body.get("errors") or body.get("specific-errors")
                or body.get("cause") or body)
    text = body if isinstance(body, str) else json.dumps(body, sort_keys=True)
    text = " ".join(text.split())
    return text[:300] + ("..." if len(text) > 300 else "")


class MetabaseClient:
    """An authenticated connection to one Metabase instance.

    ``writes`` lists every write request sent (method and path), so a run can prove it changed
    nothing; reads are not recorded.
    """

    def __init__(self, url: str, *, api_key: str | None = None, username: str | None = None,
                 password: str | None = None, timeout_seconds: float = 30.0) -> None:
        if not url:
            raise MetabaseError("no Metabase URL: set METABASE_URL (or metabase.url in credentials)")
        self.url = url.rstrip("/")
        self.timeout_seconds = float(timeout_seconds)
        self.writes: list[str] = []
        if not api_key and not (username and password):
            raise MetabaseError(
                f"no credentials for Metabase at {self.url}: set METABASE_API_KEY (or "
                "METABASE_USERNAME and METABASE_PASSWORD), or 'metabase' in conf/local/credentials.yml")
        self._auth = {"api_key": api_key, "username": username, "password": password}
        self._api: Metabase_API | None = None

    def _connect(self) -> Metabase_API:
        """Authenticate on first use, so a spec error is found before any request is sent."""
        if self._api is not None:
            return self._api
        api_key, username = self._auth["api_key"], self._auth["username"]
        try:
            if api_key:
                # The transport checks the key with a GET it sends without a timeout; do the check
                # ourselves (with one) and build the transport without it.
                self._check_api_key(api_key)
                api = Metabase_API.__new__(Metabase_API)
                api.domain, api.email, api.auth, api.is_admin = self.url, None, None, True
                api.header = {"X-API-KEY": api_key}
            else:
                api = Metabase_API(self.url, email=username, password=self._auth["password"])
        except requests.RequestException as exc:
            raise MetabaseError(f"cannot reach Metabase at {self.url}: {type(exc).__name__}") from None
        except MetabaseError:
            raise
        except Exception as exc:  # metabase-api raises a bare Exception(response) on a failed login
            response = exc.args[0] if exc.args and isinstance(exc.args[0], requests.Response) else None
            status = response.status_code if response is not None else "?"
            raise MetabaseError(
                f"Metabase at {self.url} refused the login of {username!r} ({status}): check "
                "METABASE_USERNAME/METABASE_PASSWORD or credentials 'metabase'") from None
        self._api = api
        return api

    def _check_api_key(self, api_key: str) -> None:
        response = requests.get(f"{self.url}/api/user/current", headers={"X-API-KEY": api_key},
                                timeout=self.timeout_seconds)
        if response.status_code == 401:
            raise MetabaseError(
                f"Metabase at {self.url} rejected the API key (401 Unauthenticated): check "
                "METABASE_API_KEY or credentials 'metabase'")
        if not response.ok:
            raise MetabaseError(f"Metabase at {self.url} answered GET /api/user/current with "
                                f"{response.status_code}: {_detail(response)}")

    def _send(self, method: str, path: str, what: str, body: Any = None,
              params: dict[str, Any] | None = None) -> Any:
        call = getattr(self._connect(), method)
        kwargs: dict[str, Any] = {"timeout": self.timeout_seconds}
        if body is not None:
            kwargs["json"] = body
        if params:
            kwargs["params"] = params
        if method != "get":
            self.writes.append(f"{method.upper()} {path}")
        try:
            response = call(path, "raw", **kwargs)
        except requests.RequestException as exc:
            raise MetabaseError(f"cannot reach Metabase at {self.url} ({what}, {method.upper()} "
                                f"{path}): {type(exc).__name__}") from None
        if response.status_code == 401:
            raise MetabaseError(f"Metabase at {self.url} refused the credentials (401) while "
                                f"{what}: check METABASE_API_KEY or credentials 'metabase'")
        if not response.ok:
            raise MetabaseError(f"Metabase rejected {what} ({method.upper()} {path} -> "
                                f"{response.status_code} at {self.url}): {_detail(response)}")
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def get(self, path: str, what: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path``; ``what`` names the lookup in error messages."""
        return self._send("get", path, what, params=params)

    def post(self, path: str, body: Any, what: str) -> Any:
        """POST ``body`` to ``path``; ``what`` names the object in error messages."""
        return self._send("post", path, what, body=body)

    def put(self, path: str, body: Any, what: str) -> Any:
        """PUT ``body`` to ``path``; ``what`` names the object in error messages."""
        return self._send("put", path, what, body=body)
