"""Blocks the network inside every Python process that has this folder on its PYTHONPATH.

The root ``conftest.py`` puts it there for the kernels nbval starts (and for pytest-xdist's
workers), so every notebook and every unit test runs offline, as a learner's laptop may: any
connection to a non-loopback address, and any name lookup other than localhost, raises
``ConnectionError``. Set ``COURSE_ALLOW_NETWORK=1`` to turn this off.
"""

import ipaddress
import os
import socket

_LOCAL_NAMES = {None, "", "localhost", "localhost.localdomain"}


class OfflineError(ConnectionError):
    """Raised instead of touching the network while the course's tests run offline."""


def _is_local(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def _refuse(what) -> OfflineError:
    return OfflineError(f"network access blocked (the course runs offline in its tests): {what}")


def _install() -> None:
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise _refuse(f"connect to {address!r}")
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise _refuse(f"connect to {address!r}")
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            raise _refuse(f"name lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo  # also what socket.create_connection and urllib use


if os.environ.get("COURSE_ALLOW_NETWORK", "").strip().lower() not in {"1", "true", "yes", "on"}:
    _install()
