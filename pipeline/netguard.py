"""SSRF guard: refuse URLs whose host is, or resolves to, a non-public address."""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

_BLOCKED_EXTRA = (
    ipaddress.ip_network("100.64.0.0/10"),   # CGNAT
    ipaddress.ip_network("169.254.0.0/16"),  # link-local, cloud metadata
    ipaddress.ip_network("fc00::/7"),
    ipaddress.ip_network("fe80::/10"),
)


class BlockedAddress(Exception):
    """The URL points at an address the fetcher must not reach."""


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return is_public(mapped)
    if any(ip in net for net in _BLOCKED_EXTRA if net.version == ip.version):
        return False
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> list[str]:
    """All addresses a host name resolves to (IP literals in any spelling included)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    return sorted({info[4][0] for info in infos})


def check_scheme(url: str) -> str:
    """The URL's host, when the URL is absolute http(s); BlockedAddress otherwise."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise BlockedAddress(f"scheme {scheme or '(none)'!r} refused (only http and https)")
    if not parts.hostname:
        raise BlockedAddress("URL has no host")
    return parts.hostname


def parse_networks(cidrs: tuple[str, ...] | list[str]) -> tuple:
    try:
        return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
    except ValueError as exc:
        raise ValueError(f"NEWSMON_ALLOWED_NETWORKS: {exc}") from None


def check_addresses(host: str, addresses: list[str], allowed: tuple = ()) -> None:
    """Every address must be public, or inside an explicitly allowed network."""
    for addr in addresses:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip.version == net.version and ip in net for net in allowed):
            continue
        if not is_public(ip):
            raise BlockedAddress(
                f"host {host!r} resolves to non-public address {ip} "
                "(set NEWSMON_ALLOW_PRIVATE_NETWORKS=1 to allow)"
            )


def check_url(url: str, allow_private: bool) -> None:
    """Raise BlockedAddress unless the URL is http(s) and every address of its host is public."""
    host = check_scheme(url)
    if allow_private:
        return
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError as exc:
        raise BlockedAddress(f"bad port in URL: {exc}") from exc
    check_addresses(host, resolve(host, port))
