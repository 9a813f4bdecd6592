"""The suite's own guarantees: unit tests cannot reach the network."""
import os
import socket
import urllib.request

import pytest
from conftest import PROXY_VARIABLES, NetworkBlocked


def test_connections_beyond_loopback_are_refused():
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    with pytest.raises(NetworkBlocked):
        socket.getaddrinfo("example.org", 443)


def test_urls_fail_at_once_without_a_proxy_to_relay_them():
    assert not any(name in os.environ for name in PROXY_VARIABLES)
    with pytest.raises(OSError):
        urllib.request.urlopen("https://example.org", timeout=1)


def test_loopback_stays_usable():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=1)
    client.close()
    server.close()
