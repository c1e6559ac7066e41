"""The fetcher: SSRF guard, caps and deadline, against a misbehaving server on loopback."""
from __future__ import annotations

import dataclasses

import pytest

from pipeline.fetch import Fetcher, FetchError
from pipeline.netguard import BlockedAddress, check_url


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/", "http://[::1]/",
    "http://[::ffff:127.0.0.1]/", "http://[fd00::1]/", "http://2130706433/", "http://0177.0.0.1/",
    "http://0x7f.0.0.1/", "http://localhost/",
])
def test_private_addresses_refused(url):
    with pytest.raises(BlockedAddress):
        check_url(url, allow_private=False)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:text/plain,hi", "ftp://example.org/x", "/tmp/feed.xml"])
def test_other_schemes_refused_even_when_private_allowed(url):
    with pytest.raises(BlockedAddress):
        check_url(url, allow_private=True)


def test_public_address_allowed():
    check_url("http://93.184.216.34/", allow_private=False)


def test_guard_is_on_by_default(settings, demo_site):
    strict = dataclasses.replace(settings, allow_private_networks=False)
    with Fetcher(strict) as f, pytest.raises(FetchError, match="non-public address"):
        f.get(demo_site.base_url("courier") + "/feed.xml")


def test_size_cap_on_decoded_bytes(settings, demo_site):
    small = dataclasses.replace(settings, max_bytes=1024 * 1024)
    with Fetcher(small) as f, pytest.raises(FetchError, match="larger than 1048576 bytes"):
        f.get(demo_site.base_url("courier") + "/faults/big")


def test_conditional_get(settings, demo_site):
    url = demo_site.base_url("ledger") + "/feed.xml"
    with Fetcher(settings) as f:
        first = f.get(url)
        assert first.status == 200 and first.headers["etag"]
        again = f.get(url, {"If-None-Match": first.headers["etag"]})
    assert again.status == 304 and again.body == b""
