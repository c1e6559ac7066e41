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


# --- TLS: verified against the URL's host name, although the socket goes to a checked address ---

@pytest.fixture(scope="module")
def tls_site(tmp_path_factory):
    """An HTTPS server on 127.0.0.1 whose certificate (for "localhost") is signed by a throwaway CA."""
    import datetime
    import http.server
    import ssl
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject, key, issuer, issuer_key, ca):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "newsmon test CA")])
    ca_cert = cert(ca_name, ca_key, ca_name, ca_key, True)
    leaf = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), key, ca_name, ca_key, False)
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "leaf.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b"over TLS"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "leaf.pem", folder / "leaf.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], str(folder / "ca.pem")
    server.shutdown()


def test_tls_certificates_are_verified(settings, tls_site):
    port, _ = tls_site
    with Fetcher(settings) as f, pytest.raises(FetchError, match="TLSError: .*certificate verify failed"):
        f.get(f"https://localhost:{port}/")


def test_tls_is_checked_against_the_url_host(settings, tls_site, monkeypatch):
    port, ca = tls_site
    monkeypatch.setattr("pipeline.fetch.certifi.where", lambda: ca)      # trust the test CA
    with Fetcher(settings) as f:
        assert f.get(f"https://localhost:{port}/").body == b"over TLS"
        with pytest.raises(FetchError, match="TLSError: .*(match|mismatch)"):
            f.get(f"https://127.0.0.1:{port}/")          # the certificate names localhost only
