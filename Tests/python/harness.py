"""What the end-to-end scripts share: a check that stops at the first failure, and a free
loopback port."""
import socket
import sys


def check(condition, message):
    if not condition:
        print("FAIL:", message)
        sys.exit(1)
    print("ok:", message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
