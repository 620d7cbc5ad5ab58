"""The faults of the scale-out harness, each with what it must show.

Each fault runs writers (their own log of acknowledged writes) and a bounded loadtest of the read
mix through HAProxy while it injects one failure, then checks every acknowledged write on the
primary and returns a `Result`: what was injected, requests sent and failed, acknowledged writes
checked, lost, and whether what the fault must show held.
"""
import http.client
import json
import os
import random
import signal
import socket
import ssl
import statistics
import threading
import time

from stack import FALL, INTER_MS, wait_until
from traffic import REQUEST_TIMEOUT, AckLog, Writers, call, call_full, check_acknowledged, etag_parts, start_loadtest, vector

WRITERS = 4
MIX_CONNECTIONS = 16


class Result:
    def __init__(self, name, injected):
        self.name, self.injected = name, injected
        self.sent = self.failed = self.checked = 0
        self.lost = []
        self.problems = []
        self.figures = {}

    def expect(self, condition, problem):
        if not condition:
            self.problems.append(problem)

    @property
    def passed(self):
        return not self.problems and not self.lost

    def line(self):
        figures = "".join(f" {k}={v}" for k, v in self.figures.items())
        verdict = "PASS" if self.passed else "FAIL: " + "; ".join(self.problems + ([f"{len(self.lost)} acknowledged writes lost"] if self.lost else []))
        return (f"{self.name}: injected={self.injected!r} sent={self.sent} failed={self.failed} "
                f"acked_checked={self.checked} lost={len(self.lost)}{figures} {verdict}")


class Context:
    """What every fault needs: the stack, the loadtest binary, keys, the mix scenario."""

    def __init__(self, stack, loadtest_binary, keys, scenario, work, scale):
        self.stack, self.loadtest_binary, self.keys = stack, loadtest_binary, keys
        self.scenario, self.work, self.scale = scenario, work, scale
        self.lb_host, self.lb_port = stack.lb.ip, 8080

    def seconds(self, short):
        return max(1, round(short * self.scale))


class UnderLoad:
    """Writers and a loadtest of the mix for `seconds`, through the balancer; adds up what both saw."""

    def __init__(self, context, result, seconds, rate=300):
        self.context, self.result, self.seconds, self.rate = context, result, seconds, rate
        self.acks = AckLog()

    def __enter__(self):
        c = self.context
        self.writers = Writers(c.lb_host, c.lb_port, c.keys["writer"], "scale", WRITERS, self.acks).__enter__()
        out = os.path.join(c.work, f"loadtest-{self.result.name}.json")
        self.thread, self.report = start_loadtest(c.loadtest_binary, c.stack.url, c.scenario, self.seconds, self.rate,
                                                  MIX_CONNECTIONS, out)
        self.started = time.monotonic()
        return self

    def __exit__(self, kind, value, traceback):
        self.thread.join(timeout=self.seconds + REQUEST_TIMEOUT + 60)
        self.writers.__exit__(None, None, None)
        if kind is not None:
            return False
        report = self.report.get("report")
        r, tally = self.result, self.writers.tally
        r.expect(report is not None, "loadtest wrote no report")
        load_sent = report["requests"] if report else 0
        load_failed = report["errors"] if report else 0
        r.sent += tally.sent + load_sent
        r.failed += tally.failures + load_failed
        r.figures["writes_failed"] = json.dumps(tally.failed, separators=(",", ":")) if tally.failed else "{}"
        if report and report.get("errors"):
            r.figures["mix_failed"] = json.dumps({k: v for k, v in report["status"].items() if not k.startswith("2")} | {
                k: v for k, v in report["errors_by_class"].items() if v and not k.startswith("status")}, separators=(",", ":"))
        r.figures["slowest_write_s"] = round(tally.slowest, 2)
        self.tally = tally
        checked, lost = check_acknowledged(self.context.stack, self.acks)
        r.checked += checked
        r.lost += lost
        return False


def wait_state(stack, name, state, seconds):
    started = time.monotonic()
    wait_until(lambda: stack.server_states().get(name) == state, seconds, f"HAProxy to see {name} {state}", every=0.02)
    return time.monotonic() - started


# -- the faults ----------------------------------------------------------------------------------

def rolling_restart(c):
    s = c.stack
    r = Result("rolling-restart", f"SIGTERM, wait for exit 0, start again: each of {len(s.gateway_hosts)} replicas in turn")
    with UnderLoad(c, r, seconds=c.seconds(8) + 7 * len(s.gateway_hosts)) as load:
        time.sleep(2)
        for host in s.gateway_hosts:
            process = s.gateways[host.name]
            process.send_signal(signal.SIGTERM)
            status = process.wait(timeout=30)
            r.expect(status == 0, f"{host.name} drained with exit status {status}")
            s.start_gateway(host)
            wait_state(s, host.name, "UP", 30)
        r.figures["restarted"] = len(s.gateway_hosts)
    r.expect(r.failed == 0, f"{r.failed} requests failed during a rolling restart (must be 0)")
    return r


def kill9(c):
    s = c.stack
    host = s.gateway_hosts[1 % len(s.gateway_hosts)]
    r = Result("kill-9", f"SIGKILL {host.name} under load, start it again")
    bound = WRITERS + MIX_CONNECTIONS
    with UnderLoad(c, r, seconds=c.seconds(6) + 8):
        time.sleep(3)
        s.gateways[host.name].kill()
        s.gateways[host.name].wait()
        taken_out = wait_state(s, host.name, "DOWN", 10)
        r.figures["down_after_s"] = round(taken_out, 2)
        s.start_gateway(host)
        wait_state(s, host.name, "UP", 30)
    r.figures["in_flight_bound"] = bound
    r.expect(r.failed <= bound, f"{r.failed} failed, more than the {bound} requests that can be in flight on one replica")
    return r


def partition(c):
    s = c.stack
    host = s.gateway_hosts[0]
    r = Result("partition", f"{host.name}'s link down under load, then up")
    # HAProxy's bound: FALL checks, each at most INTER + its own 1 s timeout.
    bound_s = FALL * (INTER_MS / 1000 + 1.0) + INTER_MS / 1000
    with UnderLoad(c, r, seconds=c.seconds(6) + 14) as load:
        time.sleep(2)
        host.partition()
        marked = time.monotonic()
        removed = wait_state(s, host.name, "DOWN", 15)
        r.figures["removed_after_s"] = round(removed, 2)
        r.expect(removed <= bound_s, f"HAProxy took {removed:.2f} s to remove {host.name} (bound {bound_s:.1f} s)")
        time.sleep(max(0, c.seconds(4) - (time.monotonic() - marked)))
        with load.acks.lock:
            during = [rec for rec in load.acks.records]
        host.heal()
        back = wait_state(s, host.name, "UP", 30)
        r.figures["back_after_s"] = round(back, 2)
    # Every record acknowledged elsewhere while it was cut off is searchable on it directly.
    ids = [rec[1] for rec in during]
    caught_up = catch_up_seconds(c, host, ids, 15)
    r.figures["partitioned_records"] = len(ids)
    r.figures["index_caught_up_s"] = "never" if caught_up is None else round(caught_up, 2)
    r.expect(caught_up is not None, f"{host.name}'s index did not catch up with {len(ids)} records within 15 s")
    r.figures["in_flight_bound"] = WRITERS + MIX_CONNECTIONS
    r.expect(r.failed <= WRITERS + MIX_CONNECTIONS, f"{r.failed} failed, more than could be in flight on {host.name}")
    return r


def catch_up_seconds(c, host, ids, seconds):
    started = time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline:
        status, body = call(host.ip, "POST", "/v1/collections/scale/records/get", c.keys["writer"], {"ids": ids, "include": []})
        if status == 200 and len(json.loads(body)["records"]) == len(ids):
            return time.monotonic() - started
        time.sleep(0.1)
    return None


def primary_restart(c):
    s = c.stack
    r = Result("postgres-primary-restart", "PostgreSQL primary stopped (fast) for 3 s, started again")
    with UnderLoad(c, r, seconds=c.seconds(4) + 12) as load:
        time.sleep(2)
        s.stop_postgres(s.pg1)
        time.sleep(3)
        s.start_postgres(s.pg1)
        restarted = time.monotonic()
        key = c.keys["writer"]
        wait_until(lambda: call(s.lb.ip, "POST", "/v1/documents", key, {"title": "probe", "content": "after restart"})[0] == 201,
                   30, "a write to succeed after the primary restart")
        r.figures["writes_back_after_s"] = round(time.monotonic() - restarted, 2)
    tally = load.tally
    unexpected = {k: v for k, v in tally.failed.items() if k != "503"}
    r.expect(not unexpected, f"failures other than 503: {unexpected}")
    r.expect(tally.unavailable_without_retry_after == 0, f"{tally.unavailable_without_retry_after} 503s without Retry-After")
    r.expect(tally.slowest < REQUEST_TIMEOUT, f"a write took {tally.slowest:.1f} s")
    # Reads of the mix go to the standby and key checks are cached: they must not fail at all.
    mix = load.report.get("report") or {}
    r.expect(mix.get("errors", 1) == 0, f"{mix.get('errors')} of the read mix failed while only the primary was down")
    return r


def redis_down(c):
    s = c.stack
    r = Result("redis-down", "Redis killed for 4 s under load, started again (limits fail open, caches bypassed)")
    with UnderLoad(c, r, seconds=c.seconds(4) + 10):
        time.sleep(2)
        s.kill_redis()
        time.sleep(4)
        s.start_redis()
        time.sleep(2)
    r.expect(r.failed == 0, f"{r.failed} requests failed while Redis was down (must be 0)")
    fallbacks = sum(metric(h.ip, "aiwriter_ratelimit_redis_fallbacks_total") for h in s.gateway_hosts)
    r.figures["rate_limit_fallbacks"] = int(fallbacks)
    return r


def shared_limits(c):
    s = c.stack
    r = Result("shared-limits", f"one key's limit over {len(s.gateway_hosts)} replicas; a revocation; upserts seen elsewhere")
    # One key's budget: hammered on every replica at once, well above its rate.
    rate, burst, seconds = 100, 20, c.seconds(5)
    key_id, key = c.keys["create"](f"{rate}/s", burst)
    passed, window = hammer(s, key, seconds)
    allowed = rate * window + burst
    error = (passed - allowed) / allowed
    r.sent += passed
    r.figures["limit_passed"] = passed
    r.figures["limit_allowed"] = round(allowed)
    r.figures["limit_error_pct"] = round(100 * error, 2)
    r.expect(abs(error) <= 0.02, f"{passed} passed against {allowed:.0f} allowed ({100 * error:+.1f} %, bound ±2 %)")
    # A revocation: every replica refuses the key within 2 s.
    key_id, key = c.keys["create"]("1000/s", 1000)
    for host in s.gateway_hosts:
        call(host.ip, "GET", "/v1/whoami", key)
    status, _ = call(s.lb.ip, "DELETE", f"/v1/admin/keys/{key_id}", c.keys["admin"])
    r.expect(status in (200, 204), f"revocation answered {status}")
    revoked = time.monotonic()
    slowest = 0.0
    for host in s.gateway_hosts:
        wait_until(lambda: call(host.ip, "GET", "/v1/whoami", key)[0] == 401, 10, f"{host.name} to refuse a revoked key", every=0.02)
        slowest = max(slowest, time.monotonic() - revoked)
    r.figures["revoked_everywhere_s"] = round(slowest, 2)
    r.expect(slowest <= 2.0, f"a revoked key still worked on a replica after {slowest:.2f} s (bound 2 s)")
    # An upsert on one replica, searchable on every other: time to the first query that finds it.
    rng = random.Random(7)
    times = []
    samples = c.seconds(20)
    writer_host, readers = s.gateway_hosts[0], s.gateway_hosts[1:]
    for n in range(samples):
        v = vector(rng)
        rid = f"visible-{n}"
        status, _ = call(writer_host.ip, "POST", "/v1/collections/scale/records", c.keys["writer"],
                         {"records": [{"id": rid, "vector": v, "document": rid}]})
        acked = time.monotonic()
        r.sent += 1
        for host in readers:
            def found():
                status, body = call(host.ip, "POST", "/v1/collections/scale/query", c.keys["writer"], {"vector": v, "k": 1})
                return status == 200 and json.loads(body)["results"][0][0]["id"] == rid
            wait_until(found, 10, f"{rid} searchable on {host.name}", every=0.01)
            times.append(time.monotonic() - acked)
    times.sort()
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    r.figures["upsert_visible_p50_s"] = round(statistics.median(times), 3)
    r.figures["upsert_visible_p99_s"] = round(p99, 3)
    r.expect(p99 <= 1.0, f"an upsert took {p99:.2f} s (p99) to be searchable on another replica (bound 1 s)")
    return r


def hammer(stack, key, seconds):
    """Two connections per replica send whoami as fast as they can for `seconds`; returns the
    number of 200s and the window from the first send to the last."""
    lock = threading.Lock()
    counts = {"ok": 0, "first": None, "last": 0.0}
    start = threading.Barrier(2 * len(stack.gateway_hosts))

    def run(host):
        connection = http.client.HTTPConnection(host.ip, 8080, timeout=REQUEST_TIMEOUT)
        start.wait()
        end = time.monotonic() + seconds
        while (sent := time.monotonic()) < end:
            connection.request("GET", "/v1/whoami", headers={"Authorization": f"Bearer {key}"})
            response = connection.getresponse()
            response.read()
            with lock:
                counts["first"] = sent if counts["first"] is None else min(counts["first"], sent)
                counts["last"] = max(counts["last"], sent)
                counts["ok"] += response.status == 200

    threads = [threading.Thread(target=run, args=(h,)) for h in stack.gateway_hosts for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts["ok"], counts["last"] - counts["first"]


def replica_lag(c):
    """Each client write is read back at once through the balancer (so on any replica) with the
    token the write answered (X-AIWriter-Read-After); a second read without it shows what the
    token buys (counted, not judged: without it a lagging standby may answer)."""
    s = c.stack
    r = Result("replica-lag", "standby applies WAL 1 s late (recovery_min_apply_delay); each write read back at once")
    s.set_standby_delay("1s")
    try:
        stale, reads, untokened_stale = 0, 0, 0
        seconds = c.seconds(5)
        end = time.monotonic() + seconds
        key = c.keys["writer"]
        while time.monotonic() < end:
            body = f"lag probe {reads} {time.time()}"
            status, headers, _ = call_full(s.lb.ip, "POST", "/v1/documents", key, {"title": "lag", "content": body})
            r.sent += 1
            if status != 201:
                r.failed += 1
                continue
            doc_id, _ = etag_parts(headers["etag"])
            etag = headers["etag"]
            token = {"X-AIWriter-Read-After": headers.get("x-aiwriter-read-after", "")}
            for edit in range(2):
                status, _, data = call_full(s.lb.ip, "GET", f"/v1/documents/{doc_id}", key, extra=token)
                r.sent += 1
                reads += 1
                if status != 200 or json.loads(data).get("content") != body:
                    stale += 1
                status, _, data = call_full(s.lb.ip, "GET", f"/v1/documents/{doc_id}/content", key)
                r.sent += 1
                if status != 200 or data.decode(errors="replace") != body:
                    untokened_stale += 1
                if edit == 1:
                    break
                body = body + " edited"
                status, headers, _ = call_full(s.lb.ip, "PUT", f"/v1/documents/{doc_id}", key, {"title": "lag", "content": body},
                                               extra={"If-Match": etag})
                r.sent += 1
                if status != 200:
                    r.failed += 1
                    break
                token = {"X-AIWriter-Read-After": headers.get("x-aiwriter-read-after", "")}
                etag = headers.get("etag", etag)
        r.figures["reads"] = reads
        r.figures["stale_reads"] = stale
        r.figures["stale_without_token"] = untokened_stale
        r.expect(stale == 0, f"{stale} of {reads} reads went back in time after the client's own acknowledged write")
    finally:
        s.set_standby_delay("0")
    return r


def tls_across_replicas(c):
    """Reconnect after reconnect through HAProxy in TCP mode (round robin: each one reaches the
    next replica), offering the session from the last one; the ticket keys rotate halfway."""
    s = c.stack
    r = Result("tls-across-replicas", "TLS passed through to the replicas (round robin); each reconnect offers the last session; keys rotated halfway")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    before = {name: int(row["stot"]) for name, row in s.server_stats("gateways_tls").items()}
    total = max(200, int(300 * c.scale))
    session, resumed, versions = None, 0, set()
    for i in range(total):
        if i == total // 2:
            s.rotate_ticket_keys()
            time.sleep(1.5)
        r.sent += 1
        try:
            with socket.create_connection((s.lb.ip, 8443), timeout=REQUEST_TIMEOUT) as raw:
                with context.wrap_socket(raw, server_hostname="aiwriter.test", session=session) as t:
                    t.sendall(b"GET /healthz HTTP/1.1\r\nHost: aiwriter.test\r\nConnection: close\r\n\r\n")
                    data = b""
                    while chunk := t.recv(65536):
                        data += chunk
                    if not data.startswith(b"HTTP/1.1 200"):
                        r.failed += 1
                    if session is not None and t.session_reused:
                        resumed += 1
                    versions.add(t.version())
                    session = t.session
        except (OSError, ssl.SSLError):
            r.failed += 1
            session = None
    after = {name: int(row["stot"]) for name, row in s.server_stats("gateways_tls").items()}
    reconnects = total - 1
    ratio = resumed / reconnects
    r.figures["resumed"] = f"{resumed}/{reconnects} ({100 * ratio:.1f} %)"
    r.figures["per_replica"] = ",".join(f"{n}:{after[n] - before.get(n, 0)}" for n in sorted(after))
    r.figures["versions"] = ",".join(sorted(versions))
    r.expect(r.failed == 0, f"{r.failed} TLS requests failed")
    r.expect(ratio >= 0.99, f"only {100 * ratio:.1f} % of reconnects resumed (must be at least 99 %)")
    return r


def metric(host, name):
    connection = http.client.HTTPConnection(host, 8080, timeout=5)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


FAULTS = {
    "rolling-restart": rolling_restart,
    "kill-9": kill9,
    "partition": partition,
    "replica-lag": replica_lag,
    "postgres-primary-restart": primary_restart,
    "redis-down": redis_down,
    "shared-limits": shared_limits,
    "tls-across-replicas": tls_across_replicas,
}
