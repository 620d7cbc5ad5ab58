"""The gateway's collections beside a Chroma 1.5.9 server, same machine, same run.

Called by Benchmarks/compare/collections.sh. For each system: the base ingested over HTTP
with the chromadb client in batches of 1,000 (cosine, M=16, efConstruction=200), recall@10
of the query set through the client, loadtest closed-loop throughput and latency at each
connection count (a random query vector per request, Chroma's query route on both), restart
to the first answered query, and resident memory after it. The order of the two systems
alternates by round; every round is printed, then the ratios.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import chromadb


def read_fvecs(path):
    a = np.fromfile(path, dtype="<i4")
    d = a[0]
    return a.reshape(-1, d + 1)[:, 1:].view("<f4").copy()


def read_ivecs(path):
    a = np.fromfile(path, dtype="<i4")
    d = a[0]
    return a.reshape(-1, d + 1)[:, 1:]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    total = 0
    pids = [pid]
    try:
        pids += [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    except Exception:
        pass
    for p in pids:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


class Server:
    def __init__(self, name, work, args):
        self.name, self.work, self.args = name, work, args
        self.port = free_port()
        self.process = None
        self.headers = {}

    def start(self):
        log = open(os.path.join(self.work, f"{self.name}.log"), "a")
        env = dict(os.environ, ANONYMIZED_TELEMETRY="False")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=log, env=env)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def wait_ready(self):
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=1).read()
                return
            except Exception:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited; see {self.work}/{self.name}.log")
                time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not start")

    def client(self):
        return chromadb.HttpClient(host="127.0.0.1", port=self.port, headers=self.headers)


class Gateway(Server):
    def __init__(self, work, binary, loops):
        super().__init__("gateway", work, [])
        self.binary, self.loops = binary, loops
        self.data = os.path.join(work, "gateway-data")
        out = subprocess.run([binary, "keys", "create", "--tenant", "bench", "--role", "writer", "--rate", "1000000/s",
                              "--burst", "1000000", "--data-dir", self.data], check=True, capture_output=True, text=True)
        self.key = out.stdout.strip().splitlines()[-1]
        self.headers = {"Authorization": "Bearer " + self.key}

    def command(self):
        return [self.binary, "serve", "--data-dir", self.data, "--port", str(self.port), "--loops", str(self.loops)]


class Chroma(Server):
    def __init__(self, work, binary):
        super().__init__("chroma", work, [])
        self.binary = binary
        self.data = os.path.join(work, "chroma-data")

    def command(self):
        return [self.binary, "run", "--path", self.data, "--host", "127.0.0.1", "--port", str(self.port)]


def ingest(server, base, batch, ef_search=None):
    client = server.client()
    hnsw = {"space": "cosine", "ef_construction": 200, "max_neighbors": 16}
    if ef_search:
        hnsw["ef_search"] = ef_search
    collection = client.create_collection("bench", configuration={"hnsw": hnsw}, embedding_function=None)
    started = time.time()
    for start in range(0, len(base), batch):
        collection.add(ids=[f"r{i}" for i in range(start, min(len(base), start + batch))], embeddings=base[start:start + batch])
    seconds = time.time() - started
    assert collection.count() == len(base), f"{server.name}: count {collection.count()}"
    return collection, seconds


def recall_at_10(collection, queries, truth):
    hits = 0
    for start in range(0, len(queries), 100):
        got = collection.query(query_embeddings=queries[start:start + 100], n_results=10, include=["distances"])["ids"]
        for row, want in zip(got, truth[start:start + 100]):
            hits += len({f"r{i}" for i in want[:10]} & set(row))
    return hits / (10 * len(queries))


def loadtest(binary, server, collection_id, queries_path, connections, duration, work):
    scenario = os.path.join(work, f"{server.name}-scenario.json")
    headers = {"Content-Type": "application/json"}
    headers.update(server.headers)
    with open(scenario, "w") as f:
        json.dump({"requests": [{
            "method": "POST",
            "url": f"/api/v2/tenants/default_tenant/databases/default_database/collections/{collection_id}/query",
            "headers": headers,
            "body": '{"query_embeddings": [{{fvecs:' + queries_path + '}}], "n_results": 10, "include": ["distances"]}',
        }]}, f)
    report = os.path.join(work, f"{server.name}-{connections}.json")
    subprocess.run([binary, "run", "--url", f"http://127.0.0.1:{server.port}", "--scenario", scenario, "-c", str(connections),
                    "-t", "1", "-d", f"{duration}s", "--warmup", "1s", "--json", report], check=True, capture_output=True, text=True)
    figures = json.load(open(report))
    return figures


def pick(figures, *names):
    """A figure from loadtest's JSON report by the first of `names` present (nested keys with dots)."""
    for name in names:
        value = figures
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def wait_linked(server, timeout=600):
    started = time.time()
    while time.time() - started < timeout:
        text = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5).read().decode()
        pending = [l for l in text.splitlines() if l.startswith("aiwriter_collection_unlinked_records{")]
        if pending and all(l.rsplit(" ", 1)[1] == "0" for l in pending):
            return time.time() - started
        time.sleep(0.1)
    raise RuntimeError("the graph did not finish linking")


def restart(server, collection_name, dimension=384, kill=False):
    if kill:
        server.process.kill()
        server.process.wait()
    else:
        server.stop()
    started = time.time()
    server.start()
    server.wait_ready()
    query = [[0.1] * dimension]
    while True:
        try:
            c = server.client().get_collection(collection_name, embedding_function=None)
            c.query(query_embeddings=query, n_results=1)
            break
        except Exception:
            if time.time() - started > 300:
                raise
            time.sleep(0.01)
    return time.time() - started


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--gateway", required=True)
    p.add_argument("--loadtest", required=True)
    p.add_argument("--chroma", required=True)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--connections", default="1,8,32")
    p.add_argument("--loops", type=int, default=2)
    p.add_argument("--only", choices=["gateway", "chroma"])
    p.add_argument("--gateway-ef", type=int, help="the gateway collection's ef_search (Chroma keeps its default, 100)")
    args = p.parse_args()
    base = read_fvecs(os.path.join(args.data, "base.fvecs"))
    queries = read_fvecs(os.path.join(args.data, "queries.fvecs"))
    truth = read_ivecs(os.path.join(args.data, "groundtruth.ivecs"))
    queries_path = os.path.abspath(os.path.join(args.data, "queries.fvecs"))
    connections = [int(c) for c in args.connections.split(",")]
    results = {"gateway": [], "chroma": []}
    for round_index in range(args.rounds):
        order = ["gateway", "chroma"] if round_index % 2 == 0 else ["chroma", "gateway"]
        if args.only:
            order = [args.only]
        for name in order:
            work = tempfile.mkdtemp(prefix=f"bench-{name}-")
            server = Gateway(work, args.gateway, args.loops) if name == "gateway" else Chroma(work, args.chroma)
            server.start()
            server.wait_ready()
            try:
                collection, seconds = ingest(server, base, 1000, args.gateway_ef if name == "gateway" else None)
                figures = {"ingest_records_per_s": len(base) / seconds}
                if name == "gateway":
                    # Acknowledged records are searchable at once (exactly, beside the graph);
                    # queries are measured once the background linking has finished.
                    figures["linked_after_s"] = seconds + wait_linked(server)
                figures["recall_at_10"] = recall_at_10(collection, queries, truth)
                # Whatever either system does after a bulk load (compaction, persisting) is
                # given time to finish before throughput is measured.
                time.sleep(5)
                for c in connections:
                    report = loadtest(args.loadtest, server, str(collection.id), queries_path, c, args.duration, work)
                    figures[f"qps_{c}"] = pick(report, "requests_per_second", "rps", "throughput")
                    figures[f"p50_ms_{c}"] = pick(report, "latency_ms.p50", "latency.p50_ms", "p50_ms")
                    figures[f"p99_ms_{c}"] = pick(report, "latency_ms.p99", "latency.p99_ms", "p99_ms")
                    figures[f"errors_{c}"] = pick(report, "errors", "error_count")
                figures["restart_s"] = restart(server, "bench")
                figures["rss_mib"] = rss_kib(server.process.pid) / 1024
            finally:
                server.stop()
                subprocess.run(["rm", "-rf", work])
            results[name].append(figures)
            print(json.dumps({"round": round_index + 1, "system": name, **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in figures.items()}}),
                  flush=True)
    if args.only:
        return 0
    print()
    keys = list(results["gateway"][0].keys())
    print(f"{'figure':24} {'gateway (each round)':34} {'chroma (each round)':34} ratio of medians")
    for key in keys:
        g = [r[key] for r in results["gateway"] if r.get(key) is not None]
        c = [r[key] for r in results["chroma"] if r.get(key) is not None]
        if not g or not c:
            print(f"{key:24} {', '.join(f'{v:.4g}' for v in g):34} {'-':34} -")
            continue
        gm, cm = float(np.median(g)), float(np.median(c))
        ratio = gm / cm if cm else float("inf")
        print(f"{key:24} {', '.join(f'{v:.4g}' for v in g):34} {', '.join(f'{v:.4g}' for v in c):34} {ratio:.3g}x")


if __name__ == "__main__":
    sys.exit(main())
