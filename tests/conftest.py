"""Test-suite plumbing: no network for the tests. The notebooks' contract is tools/pytest_plugin.py."""
import ipaddress
import os
import socket

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
# Notebooks that tests read as data (the grader's small lab), not notebooks of the course for nbval to run.
collect_ignore_glob = ["fixtures/*.ipynb"]


def _is_local(host):
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NetworkBlocked(OSError):
    """Raised when a test tries to reach a non-loopback address."""


def pytest_configure(config):
    """Before any test or fixture: only loopback connections, and no proxy to relay others.

    Proxies are removed from the environment, so processes the tests start (kernels,
    subprocesses) cannot reach out through one either.
    """
    for name in PROXY_VARIABLES:
        os.environ.pop(name, None)
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise NetworkBlocked(f"a test tried to connect to {address[0]}")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_local(str(host)):
            raise NetworkBlocked(f"a test tried to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.getaddrinfo = getaddrinfo
