"""HTTP fetching with a total deadline, a decoded-size cap, a redirect cap and the SSRF guard."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

from pipeline.netguard import BlockedAddress, check_url
from pipeline.settings import Settings

log = logging.getLogger(__name__)



class FetchError(Exception):
    """A fetch that produced no usable body; `reason` is short and safe to store."""

    def __init__(self, reason: str, status: int | None = None, retry_after: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Response:
    url: str                      # the URL asked for
    final_url: str                # after redirects
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class Fetcher:
    """One HTTP client shared by a cycle's threads."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._client = httpx.Client(
            follow_redirects=False,
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            limits=httpx.Limits(max_connections=max(10, settings.fetch_workers * 2)),
            trust_env=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, headers: dict[str, str] | None = None) -> Response:
        """GET with redirects followed by hand so every hop is re-checked; raises FetchError."""
        s = self.settings
        deadline = time.monotonic() + s.fetch_timeout
        current = url
        for _hop in range(s.max_redirects + 1):
            try:
                check_url(current, s.allow_private_networks)
            except (BlockedAddress, OSError) as exc:
                raise FetchError(f"refused {'redirect to ' if current != url else ''}URL: {exc}") from None
            resp = self._get_once(current, headers or {}, deadline)
            if resp.status in (301, 302, 303, 307, 308) and "location" in resp.headers:
                current = urljoin(current, resp.headers["location"])
                continue
            return Response(url, current, resp.status, resp.body, resp.headers)
        raise FetchError(f"more than {s.max_redirects} redirects")

    def _get_once(self, url: str, headers: dict[str, str], deadline: float) -> Response:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(f"deadline of {self.settings.fetch_timeout:g}s exceeded")
        timeout = httpx.Timeout(remaining)
        try:
            with self._client.stream("GET", url, headers=headers, timeout=timeout) as resp:
                kept = {k.lower(): v for k, v in resp.headers.items()
                        if k.lower() in {"etag", "last-modified", "content-type", "retry-after", "location"}}
                body = bytearray()
                if resp.status_code not in (301, 302, 303, 304, 307, 308):
                    for chunk in resp.iter_bytes():
                        body += chunk
                        if len(body) > self.settings.max_bytes:
                            raise FetchError(f"response larger than {self.settings.max_bytes} bytes (decoded)")
                        if time.monotonic() > deadline:
                            raise FetchError(f"deadline of {self.settings.fetch_timeout:g}s exceeded")
                return Response(url, url, resp.status_code, bytes(body), kept)
        except FetchError:
            raise
        except httpx.TimeoutException:
            raise FetchError(f"deadline of {self.settings.fetch_timeout:g}s exceeded") from None
        except httpx.DecodingError as exc:
            raise FetchError(f"cannot decode response: {exc}") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from None


def check_status(resp: Response) -> None:
    """Raise FetchError for an HTTP status that carries no content we can use."""
    if resp.status >= 400:
        raise FetchError(f"HTTP {resp.status}", status=resp.status, retry_after=resp.headers.get("retry-after"))
