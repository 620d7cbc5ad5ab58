"""Capacity of the product mix through HAProxy for 1..N replicas, and what each request costs in
CPU on the gateway, PostgreSQL, Redis and HAProxy: the measurements docs/capacity.md is built on.

Replicas are taken out of rotation with HAProxy's `set server … state maint` (the others keep
running, idle), so every count runs on the same stack, back to back.
"""
import json
import os
import socket
import subprocess
import time

SLO = "p99<50ms,errors<0.1%"
REPORTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reports")


def haproxy(stack, command):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(stack.haproxy_socket)
        s.sendall(command.encode() + b"\n")
        return s.recv(65536).decode()


def in_rotation(stack, count):
    for i, host in enumerate(stack.gateway_hosts):
        state = "ready" if i < count else "maint"
        for backend in ("gateways", "gateways_tls"):
            haproxy(stack, f"set server {backend}/{host.name} state {state}")
    time.sleep(1.5)


def ticks(pid):
    """CPU seconds of `pid`, with those of its children that have exited and been waited for."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[11..14] are utime, stime, cutime, cstime (proc(5), counted from the field after comm).
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def tree(pid):
    """`pid` and its live descendants (PostgreSQL's backends are its postmaster's children)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children = {}
    for line in out.splitlines():
        p, parent = (int(x) for x in line.split())
        children.setdefault(parent, []).append(p)
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def total(pid):
    """A process tree's CPU seconds: the root's own and its reaped children's, the live ones'."""
    root, *live = tree(pid)
    return ticks(root) + sum(ticks_live(p) for p in live)


def cpu(stack):
    return {
        "gateway": sum(total(p.pid) for p in stack.gateways.values()),
        "postgres": total(stack.postgres["pg1"].pid),
        "standby": total(stack.postgres["pg2"].pid),
        "redis": total(stack.redis.pid),
        "haproxy": total(stack.haproxy.pid),
    }


def ticks_live(pid):
    """A live descendant's own CPU (its exited children are in the parent's cutime already)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadtest(c, args, out):
    command = [c.loadtest_binary, *args, "--json", out + ".json"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=c.work)
    with open(out + ".txt", "w") as f:
        f.write(" ".join(command) + "\n" + done.stdout + done.stderr)
    with open(out + ".json") as f:
        return json.load(f)


def plan(c, replicas, short):
    os.makedirs(REPORTS, exist_ok=True)
    url = f"http://{c.lb_host}:{c.lb_port}"
    step = "3s" if short else "10s"
    rows = []
    for count in range(1, replicas + 1):
        in_rotation(c.stack, count)
        name = os.path.join(REPORTS, f"capacity-{count}")
        report = loadtest(c, ["capacity", "--url", url, "--scenario", c.scenario, "-c", "64", "-t", "1", "--slo", SLO,
                              "--start-rate", "500", "--step-duration", step, "--step-warmup", "1s", "--trials", "1" if short else "2",
                              "--pause", "1s", "--precision", "0.1", "--html", name + ".html"], name)
        capacity = report["capacity"]
        rows.append({"replicas": count, "low": capacity["low"], "high": capacity["high"], "knee": capacity.get("knee"),
                     "generator_limited": capacity.get("generator_limited")})
        print(f"capacity: {count} replica(s): holds {capacity['low']:.0f} req/s, fails at {capacity['high'] or 0:.0f} "
              f"(knee {capacity.get('knee') or 0:.0f}; generator limited: {capacity.get('generator_limited')}); "
              f"report {name}.html", flush=True)

    # CPU per request at a fixed rate every replica count holds (half the one-replica capacity).
    in_rotation(c.stack, replicas)
    rate = max(100, int(rows[0]["low"] * 0.5))
    seconds = 5 if short else 20
    before = cpu(c.stack)
    started = time.monotonic()
    report = loadtest(c, ["run", "--url", url, "--scenario", c.scenario, "-c", "64", "-t", "1", "-R", str(rate), "-d", f"{seconds}s"],
                      os.path.join(REPORTS, "cost"))
    wall = time.monotonic() - started
    after = cpu(c.stack)
    requests = report["requests"]
    costs = {k: (after[k] - before[k]) / requests * 1e6 for k in after}
    print(f"cost: {requests} requests at {rate} req/s over {wall:.1f} s; CPU µs per request: "
          + ", ".join(f"{k} {v:.0f}" for k, v in costs.items()), flush=True)
    with open(os.path.join(REPORTS, "plan.json"), "w") as f:
        json.dump({"slo": SLO, "capacity": rows, "cost_rate": rate, "cost_requests": requests, "cpu_us_per_request": costs,
                   "latency_ms": report.get("latency_ms")}, f, indent=2)
    return rows, costs
