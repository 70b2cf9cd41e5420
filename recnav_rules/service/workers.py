"""Several uvicorn workers on one listening socket, with TCP_NODELAY on every connection.

uvicorn binds the shared socket for ``--workers`` with ``socket.socket(family)``, whose protocol
number is 0; asyncio only sets TCP_NODELAY on sockets whose protocol is ``IPPROTO_TCP``, so
every worker's connections had Nagle's algorithm on. A response written in two pieces (headers,
then body) then waited for the client's delayed acknowledgement: about 40 ms per request. Here
the listening socket says it is TCP, and accepted connections get TCP_NODELAY as with one worker.
"""

from __future__ import annotations

import socket

import uvicorn

__all__ = ["TcpConfig"]


class TcpConfig(uvicorn.Config):
    """``uvicorn.Config`` whose shared TCP socket carries its protocol number (see the module doc)."""

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
            return sock
        tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        tcp.set_inheritable(True)
        return tcp
