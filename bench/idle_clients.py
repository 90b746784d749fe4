#!/usr/bin/env python3
"""Opens N proxied sessions, makes each one used and then idle, and holds them.

Usage: idle_clients.py N HOST PORT

Each session sends one small HTTP request through the proxy and reads the whole response, so
the proxy has moved bytes both ways (any buffer it allocates on first use is allocated) and the
session is then idle on an HTTP keep-alive connection. Connections are opened one after the
other, so the proxy's accept queue never overflows and no SYN waits for a retransmission.

Prints "ready OK FAILED" on stdout once every session has its response, then holds them all
until stdin is closed (or a line is read), closes them and exits 0.
"""
import resource
import socket
import sys

REQ = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def one(host, port):
    s = socket.create_connection((host, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(REQ)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the response")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed in the body")
        body += chunk
    return s


def main():
    n, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks, failed = [], 0
    for _ in range(n):
        try:
            socks.append(one(host, port))
        except OSError:
            failed += 1
            if failed > 50:
                break
    print(f"ready {len(socks)} {failed}", flush=True)
    sys.stdin.readline()
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
