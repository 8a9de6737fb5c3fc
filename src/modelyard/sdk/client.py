"""The HTTP client every SDK object and CLI command speaks through.

Errors come back in the API's one JSON shape and are raised as the same modelyard error class
the server raised, so callers catch `modelyard.errors.NotFound` wherever the failure happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from modelyard.errors import ModelyardError, ServerNotRunning, error_from_dict


def raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        body = {
            "code": "HTTPError",
            "message": f"HTTP {response.status_code}: {response.text[:500]}",
        }
    raise error_from_dict(response.status_code, body)


class ApiClient:
    def __init__(self, url: str, token: str | None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise ServerNotRunning(
                f"no modelyard server answers at {self.url}; start one with "
                "'modelyard server start'"
            ) from None
        raise_for_error(response)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        response = self.request("POST", path, json=json, **kwargs)
        return response.json() if response.content else None

    def put(self, path: str, json: Any = None) -> Any:
        response = self.request("PUT", path, json=json)
        return response.json() if response.content else None

    def delete(self, path: str) -> Any:
        response = self.request("DELETE", path)
        return response.json() if response.content else None

    def paginate(
        self, path: str, params: dict[str, Any] | None = None, key: str = "items"
    ) -> Iterator[dict[str, Any]]:
        params = dict(params or {})
        while True:
            page = self.get(path, params={k: v for k, v in params.items() if v is not None})
            yield from page[key]
            token = page.get("next_token")
            if not token:
                return
            params["next_token"] = token

    def stream(self, method: str, path: str, **kwargs: Any) -> Any:
        """A streamed response context manager (for downloads)."""
        return self._http.stream(method, path, **kwargs)


__all__ = ["ApiClient", "ModelyardError", "raise_for_error"]
