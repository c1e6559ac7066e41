"""HTTP fetching: total deadline, decoded-size cap, redirect cap, per-host politeness and the SSRF guard.

The address check happens where the socket connects, on the very addresses it connects to, so a
host that resolves differently between check and connect (DNS rebinding) is still refused.
Redirects are followed by hand so every hop is checked again. TLS is verified against the URL's
host name. The client is urllib3 (http.client underneath): this fetcher costs 0.39-0.46 ms of CPU a
page on it, 0.50-0.61 ms on httpx (paired runs on the bench site), and fetching shares the cores
with extraction and spaCy (docs/decisions.md).
"""
from __future__ import annotations

import http.client
import itertools
import logging
import socket
import ssl
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import urljoin

import certifi
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ProtocolError, ReadTimeoutError, SSLError
from urllib3.util import connection as socket_connection

from pipeline.decode import TooLarge, UnsupportedEncoding, decoded
from pipeline.hostgate import HostGate
from pipeline.netguard import BlockedAddress, check_addresses, check_scheme, parse_networks, resolve
from pipeline.settings import Settings

log = logging.getLogger(__name__)

_KEEP_HEADERS = {"etag", "last-modified", "content-type", "retry-after", "location", "content-encoding"}
_CHUNK = 64 * 1024


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


class _Unreachable(Exception):
    """No connection to any address of the host (or it does not resolve); carries the reason."""


class Guard:
    """Resolves, checks every address, then connects to a checked address only."""

    def __init__(self, allow_private: bool, allowed_networks: tuple[str, ...] = ()):
        self.allow_private = allow_private
        self.allowed = parse_networks(allowed_networks)

    def connect(self, host: str, port: int, timeout: Any = None, source_address: Any = None,
                socket_options: Any = None) -> socket.socket:
        try:
            addresses = resolve(host, port)
        except OSError as exc:
            raise _Unreachable(str(exc)) from None
        if not self.allow_private:
            check_addresses(host, addresses, self.allowed)
        error: OSError | None = None
        for addr in addresses:
            try:
                return socket_connection.create_connection((addr, port), timeout, source_address, socket_options)
            except TimeoutError:
                raise
            except OSError as exc:
                error = exc
        raise _Unreachable(f"cannot connect to {host}:{port}: {error or 'no address'}")


class _HeaderDeadlines:
    """Shuts down the socket of a response whose status line and headers are still arriving when
    its request's deadline passes. http.client reads them line by line, each read under the socket
    timeout, so a server dripping header lines would otherwise hold a fetch for up to 100 lines
    times the timeout (the body is read a socket read at a time, and checked between reads).
    One thread for the process, asleep while nothing is watched."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watched: dict[int, tuple[float, socket.socket]] = {}
        self._keys = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> int:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fetch-header-deadlines", daemon=True)
                self._thread.start()
            if not self._watched or deadline < min(d for d, _ in self._watched.values()):
                self._cond.notify()
            key = next(self._keys)
            self._watched[key] = (deadline, sock)
            return key

    def unwatch(self, key: int) -> None:
        with self._cond:
            self._watched.pop(key, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                late = [k for k, (d, _) in self._watched.items() if d <= now]
                for key in late:
                    with suppress(OSError):
                        self._watched.pop(key)[1].shutdown(socket.SHUT_RDWR)
                first = min((d for d, _ in self._watched.values()), default=None)
                self._cond.wait(None if first is None else first - now)


_HEADER_DEADLINES = _HeaderDeadlines()
_request = threading.local()       # the deadline of the request this thread is making


class _GuardedConnect:
    """urllib3's connection with its socket made by the Guard (set on a subclass per Fetcher),
    and its response headers read under the request's deadline."""

    guard: Guard

    def _new_conn(self) -> socket.socket:
        conn: Any = self
        try:
            return self.guard.connect(conn._dns_host, conn.port, conn.timeout, conn.source_address,
                                      conn.socket_options)
        except TimeoutError as exc:
            raise ConnectTimeoutError(conn, f"connection to {conn.host} timed out") from exc

    def getresponse(self) -> Any:
        deadline, sock = getattr(_request, "deadline", None), getattr(self, "sock", None)
        if deadline is None or sock is None:
            return super().getresponse()  # type: ignore[misc]
        key = _HEADER_DEADLINES.watch(sock, deadline)
        try:
            return super().getresponse()  # type: ignore[misc]
        finally:
            _HEADER_DEADLINES.unwatch(key)


def _pool_classes(guard: Guard) -> dict[str, type]:
    plain = type("GuardedHTTPConnection", (_GuardedConnect, HTTPConnection), {"guard": guard})
    tls = type("GuardedHTTPSConnection", (_GuardedConnect, HTTPSConnection), {"guard": guard})
    return {"http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": tls})}


class Fetcher:
    """One HTTP client shared by a cycle's threads."""

    def __init__(self, settings: Settings, gate: HostGate | None = None):
        self.settings = settings
        self.gate = gate or HostGate(settings.per_host_limit, settings.host_min_gap)
        self._pools = urllib3.PoolManager(
            num_pools=max(10, settings.fetch_workers * 2),
            maxsize=max(2, settings.per_host_limit),     # kept-alive connections per host
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate, br"},
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
        )
        self._pools.pool_classes_by_scheme = _pool_classes(
            Guard(settings.allow_private_networks, settings.allowed_networks))

    def close(self) -> None:
        self._pools.clear()

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

    def _deadline_passed(self) -> FetchError:
        return FetchError(f"deadline of {self.settings.fetch_timeout:g}s exceeded")

    def _raw(self, resp: urllib3.BaseHTTPResponse, deadline: float) -> Iterator[bytes]:
        """The body as it arrives (still content-encoded): read1 returns what one socket read got,
        so a server that drips bytes is caught by the deadline between reads."""
        while True:
            if time.monotonic() > deadline:
                raise self._deadline_passed()
            chunk = resp.read1(_CHUNK, decode_content=False)
            if not chunk:
                return
            yield chunk

    def _get_once(self, url: str, headers: dict[str, str], deadline: float, where: str) -> Response:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._deadline_passed()
        resp = None
        complete = False
        _request.deadline = deadline
        try:
            resp = self._pools.urlopen("GET", url, headers={**self._pools.headers, **headers}, redirect=False,
                                       retries=False, preload_content=False, decode_content=False,
                                       timeout=urllib3.Timeout(connect=remaining, read=remaining))
            kept = {k.lower(): v for k, v in resp.headers.items() if k.lower() in _KEEP_HEADERS}
            body = b""
            if resp.status not in (301, 302, 303, 304, 307, 308):
                body = decoded(self._raw(resp, deadline), kept.get("content-encoding", ""), self.settings.max_bytes)
                complete = True
            return Response(url, url, resp.status, body, kept)
        except FetchError:
            raise
        except BlockedAddress as exc:
            raise FetchError(f"refused {where}URL: {exc}") from None
        except _Unreachable as exc:
            raise FetchError(f"ConnectError: {exc}") from None
        except (TooLarge, UnsupportedEncoding) as exc:
            raise FetchError(str(exc)) from None
        except (ConnectTimeoutError, ReadTimeoutError, TimeoutError):
            raise self._deadline_passed() from None
        except SSLError as exc:
            raise FetchError(f"TLSError: {_cause(exc)}") from None
        except (ProtocolError, http.client.HTTPException) as exc:
            if time.monotonic() >= deadline:      # the socket was shut down at the deadline
                raise self._deadline_passed() from None
            raise FetchError(f"ProtocolError: {_cause(exc)}") from None
        except (HTTPError, OSError) as exc:
            raise FetchError(f"{type(exc).__name__}: {_cause(exc)}") from None
        except Exception as exc:  # zlib/brotli errors on corrupt bodies
            raise FetchError(f"cannot decode response: {type(exc).__name__}: {exc}") from None
        finally:
            _request.deadline = None
            if resp is not None:
                if complete:
                    resp.release_conn()      # read to the end: the connection is kept alive
                else:
                    resp.close()             # unread rest (redirect, cap, deadline, error): never reused


def _cause(exc: BaseException) -> str:
    """urllib3's wording and the reason it wraps: "Connection aborted: RemoteDisconnected: ..."."""
    args = getattr(exc, "args", ())
    if not args or not isinstance(args[0], str):
        return str(exc)
    inner = args[1] if len(args) > 1 and isinstance(args[1], BaseException) else None
    if inner is None or str(inner) in args[0]:
        return args[0]
    return f"{args[0].rstrip('.')}: {type(inner).__name__}: {str(inner).strip()}".rstrip(": ")


def check_status(resp: Response) -> None:
    """Raise FetchError for an HTTP status that carries no content we can use."""
    if resp.status >= 400:
        raise FetchError(f"HTTP {resp.status}", status=resp.status, retry_after=resp.headers.get("retry-after"),
                         hard=False)
