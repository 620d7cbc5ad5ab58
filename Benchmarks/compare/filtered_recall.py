"""Filtered query recall@10 of the gateway's collections against exact filtered ground truth.

The 64k MiniLM base with metadata drawn independently of the vectors (Qdrant's "low
correlation" case): filters of 50 %, 10 %, 1 % and 0.1 % selectivity on one field, and ANDs of
two fields (1 % and 5 %). For each, 1,000 queries (k=10, the collection's default ef 100)
through `/v1/collections/…/query`, recall@10 against numpy's exact filtered top 10, and the
mean latency. Usage: python filtered_recall.py --gateway .build/release/aiwriter --data DIR
"""
import argparse
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import numpy as np
import chromadb


def read_fvecs(path):
    a = np.fromfile(path, dtype="<i4")
    return a.reshape(-1, a[0] + 1)[:, 1:].view("<f4").copy()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gateway", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--queries", type=int, default=1000)
    args = p.parse_args()
    base = read_fvecs(os.path.join(args.data, "base.fvecs"))
    queries = read_fvecs(os.path.join(args.data, "queries.fvecs"))[: args.queries]
    n = len(base)
    rng = np.random.default_rng(11)
    fields = {"b2": rng.integers(0, 2, n), "b10": rng.integers(0, 10, n), "c10": rng.integers(0, 10, n),
              "b100": rng.integers(0, 100, n), "b1000": rng.integers(0, 1000, n)}
    filters = [
        ("50 %", {"b2": 1}, fields["b2"] == 1),
        ("10 %", {"b10": 3}, fields["b10"] == 3),
        ("1 %", {"b100": 7}, fields["b100"] == 7),
        ("0.1 %", {"b1000": 42}, fields["b1000"] == 42),
        ("AND 5 % (50 % x 10 %)", {"$and": [{"b2": 1}, {"c10": 4}]}, (fields["b2"] == 1) & (fields["c10"] == 4)),
        ("AND 1 % (10 % x 10 %)", {"$and": [{"b10": 3}, {"c10": 4}]}, (fields["b10"] == 3) & (fields["c10"] == 4)),
        ("range 10 % ($gte/$lt)", {"$and": [{"b100": {"$gte": 20}}, {"b100": {"$lt": 30}}]}, (fields["b100"] >= 20) & (fields["b100"] < 30)),
    ]
    work = tempfile.mkdtemp(prefix="filtered-")
    data = os.path.join(work, "data")
    key = subprocess.run([args.gateway, "keys", "create", "--tenant", "bench", "--role", "writer", "--rate", "1000000/s",
                          "--burst", "1000000", "--data-dir", data], check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([args.gateway, "serve", "--data-dir", data, "--port", str(port)],
                              stdout=open(os.path.join(work, "log"), "w"), stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz").read()
                break
            except Exception:
                time.sleep(0.05)
        client = chromadb.HttpClient(host="127.0.0.1", port=port, headers={"Authorization": "Bearer " + key})
        col = client.create_collection("filtered", configuration={"hnsw": {"space": "cosine", "ef_construction": 200, "max_neighbors": 16}},
                                       embedding_function=None)
        for start in range(0, n, 1000):
            end = min(n, start + 1000)
            col.add(ids=[f"r{i}" for i in range(start, end)], embeddings=base[start:end],
                    metadatas=[{k: int(v[i]) for k, v in fields.items()} for i in range(start, end)])
        while True:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
            if any(l.startswith("aiwriter_collection_unlinked_records{") and l.endswith(" 0") for l in text.splitlines()):
                break
            time.sleep(0.2)
        unit = base / np.linalg.norm(base, axis=1, keepdims=True)
        q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        scores = q @ unit.T
        print(f"{'filter':26} {'selectivity':>11} {'recall@10':>10} {'mean ms':>8}")
        for label, where, mask in filters:
            masked = np.where(mask[None, :], scores, -np.inf)
            truth = np.argsort(-masked, axis=1)[:, :10]
            hits = 0
            started = time.time()
            for i in range(len(q)):
                body = json.dumps({"vector": queries[i].tolist(), "k": 10, "where": where, "include": []}).encode()
                request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/collections/filtered/query", data=body,
                                                 headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
                got = [r["id"] for r in json.loads(urllib.request.urlopen(request).read())["results"][0]]
                want = {f"r{j}" for j in truth[i] if np.isfinite(masked[i, j])}
                hits += len(want & set(got)) / max(1, len(want)) * 10
            seconds = time.time() - started
            print(json.dumps({"filter": label, "selectivity": round(float(mask.mean()), 5), "recall_at_10": round(hits / (10 * len(q)), 4),
                              "mean_ms": round(seconds / len(q) * 1000, 3)}), flush=True)
    finally:
        server.terminate()
        server.wait()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
