#!/usr/bin/env python3
"""Opens N keep-alive connections to a server, makes one request on each, and holds them
idle: the memory a server spends per idle keep-alive connection is then RSS(after) - RSS(before).
Usage: idle_connections.py PORT N HOLD_SECONDS READY_FILE"""
import resource, socket, sys, time

port, count, hold, ready = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
request = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
socks = []
for i in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request)
    socks.append(s)
answered = 0
for s in socks:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    if data.startswith(b"HTTP/1.1 200"):
        answered += 1
open(ready, "w").write(str(answered))
time.sleep(hold)
