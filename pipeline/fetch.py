"""HTTP fetching: total deadline, decoded-size cap, redirect cap, per-host politeness and the SSRF guard.

The address check happens in the connection backend, on the very addresses the socket connects to,
so a host that resolves differently between check and connect (DNS rebinding) is still refused.
Redirects are followed by hand so every hop is checked again.
"""
from __future__ import annotations

import logging
import ssl
import time
from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import urljoin

import certifi
import httpcore
import httpx

from pipeline.decode import TooLarge, UnsupportedEncoding, decoded
from pipeline.hostgate import HostGate
from pipeline.netguard import BlockedAddress, check_addresses, check_scheme, parse_networks, resolve
from pipeline.settings import Settings

log = logging.getLogger(__name__)

_KEEP_HEADERS = {"etag", "last-modified", "content-type", "retry-after", "location", "content-encoding"}


class FetchError(Exception):
    """A fetch that produced no usable body; `reason` is short and safe to store."""

    def __init__(self, reason: str, status: int | None = None, retry_after: str | None = None, hard: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.hard = hard          # network/refusal errors weigh more than an HTTP status


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


class GuardedBackend(httpcore.SyncBackend):
    """Resolves, checks every address, then connects to a checked address only."""

    def __init__(self, allow_private: bool, allowed_networks: tuple[str, ...] = ()):
        self.allow_private = allow_private
        self.allowed = parse_networks(allowed_networks)

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # type: ignore[override]
        addresses = resolve(host, port)
        if not self.allow_private:
            check_addresses(host, addresses, self.allowed)
        error: Exception | None = None
        for addr in addresses:
            try:
                return super().connect_tcp(addr, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address for {host}")


class GuardedTransport(httpx.HTTPTransport):
    def __init__(self, allow_private: bool, max_connections: int, allowed_networks: tuple[str, ...] = ()):
        super().__init__(limits=httpx.Limits(max_connections=max_connections), trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(allow_private, allowed_networks),
        )


class Fetcher:
    """One HTTP client shared by a cycle's threads."""

    def __init__(self, settings: Settings, gate: HostGate | None = None):
        self.settings = settings
        self.gate = gate or HostGate(settings.per_host_limit, settings.host_min_gap)
        self._client = httpx.Client(
            transport=GuardedTransport(settings.allow_private_networks, max(10, settings.fetch_workers * 2),
                                       settings.allowed_networks),
            follow_redirects=False,
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate, br"},
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
            where = "redirect to " if current != url else ""
            if len(current) > s.max_url_length:
                raise FetchError(f"refused {where}URL longer than {s.max_url_length} characters")
            try:
                host = check_scheme(current)
            except BlockedAddress as exc:
                raise FetchError(f"refused {where}URL: {exc}") from None
            with self.gate.slot(host.lower()):
                resp = self._get_once(current, headers or {}, deadline, where)
            if resp.status in (301, 302, 303, 307, 308) and "location" in resp.headers:
                current = urljoin(current, resp.headers["location"].strip())
                continue
            return Response(url, current, resp.status, resp.body, resp.headers)
        raise FetchError(f"more than {s.max_redirects} redirects")

    def _raw(self, resp: httpx.Response, deadline: float) -> Iterator[bytes]:
        for chunk in resp.iter_raw():
            yield chunk
            if time.monotonic() > deadline:
                raise FetchError(f"deadline of {self.settings.fetch_timeout:g}s exceeded")

    def _get_once(self, url: str, headers: dict[str, str], deadline: float, where: str) -> Response:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(f"deadline of {self.settings.fetch_timeout:g}s exceeded")
        try:
            with self._client.stream("GET", url, headers=headers, timeout=httpx.Timeout(remaining)) as resp:
                kept = {k.lower(): v for k, v in resp.headers.items() if k.lower() in _KEEP_HEADERS}
                body = b""
                if resp.status_code not in (301, 302, 303, 304, 307, 308):
                    body = decoded(self._raw(resp, deadline), kept.get("content-encoding", ""), self.settings.max_bytes)
                return Response(url, url, resp.status_code, body, kept)
        except FetchError:
            raise
        except BlockedAddress as exc:
            raise FetchError(f"refused {where}URL: {exc}") from None
        except (TooLarge, UnsupportedEncoding) as exc:
            raise FetchError(str(exc)) from None
        except OSError as exc:  # DNS failure from the guarded backend
            raise FetchError(f"{exc}") from None
        except httpx.TimeoutException:
            raise FetchError(f"deadline of {self.settings.fetch_timeout:g}s exceeded") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from None
        except Exception as exc:  # zlib/brotli errors on corrupt bodies
            raise FetchError(f"cannot decode response: {type(exc).__name__}: {exc}") from None


def check_status(resp: Response) -> None:
    """Raise FetchError for an HTTP status that carries no content we can use."""
    if resp.status >= 400:
        raise FetchError(f"HTTP {resp.status}", status=resp.status, retry_after=resp.headers.get("retry-after"),
                         hard=False)
