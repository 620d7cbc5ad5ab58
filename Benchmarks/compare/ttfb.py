#!/usr/bin/env python3
"""Time to the first byte of an answer over one keep-alive connection: the median of N
requests after WARMUP, in milliseconds (what a client that keeps its connection, as the
`openai` client does, waits before a stream starts). A new process per sample, as a curl loop
measures, would add its own start-up and the server's accept to every figure.

Usage: ttfb.py PORT PATH BODY [KEY] [N]    (prints one number)
"""
import socket, statistics, sys, time

port, path, body = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
key = sys.argv[4] if len(sys.argv) > 4 else "x"
n = int(sys.argv[5]) if len(sys.argv) > 5 else 500
warmup = 50
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def read_answer(data):
    """Reads until the answer is whole (Content-Length or the chunked terminator)."""
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            lower = head.lower()
            if b"transfer-encoding: chunked" in lower:
                if rest.endswith(b"0\r\n\r\n"):
                    return
            else:
                for line in lower.split(b"\r\n"):
                    if line.startswith(b"content-length:") and len(rest) >= int(line.split(b":")[1]):
                        return
        more = s.recv(65536)
        if not more:
            raise SystemExit("the server closed the connection")
        data += more


samples = []
for i in range(warmup + n):
    start = time.perf_counter()
    s.sendall(request)
    first = s.recv(65536)
    elapsed = time.perf_counter() - start
    read_answer(first)
    if i >= warmup:
        samples.append(elapsed * 1000)
print(f"{statistics.median(samples):.3f}")
