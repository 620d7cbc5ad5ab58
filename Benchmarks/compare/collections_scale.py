"""Restart to first answer of one large collection (the issue's 1M x 128 bound, 3 s).

A seeded clustered set (make_clustered.py: 1,000 Gaussian clusters, unit vectors, exact cosine
top-100) is added through the real chromadb client in batches of 10,000, linked, and its
recall@10 measured; then the gateway is stopped with SIGTERM (drain writes the snapshot) and
started again, `--rounds` times, timing start to the first answered query; and once more after
kill -9 (whatever the periodic snapshot lacks is replayed from the rows). Resident memory after
each start, and the gateway's own "collection loaded" line, are printed with it.
Usage: python collections_scale.py --gateway .build/release/aiwriter [--count 1000000 --dimension 128]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from collections_bench import Gateway, read_fvecs, read_ivecs, restart, rss_kib, wait_linked  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gateway", required=True)
    p.add_argument("--count", type=int, default=1_000_000)
    p.add_argument("--dimension", type=int, default=128)
    p.add_argument("--batch", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--loops", type=int, default=2)
    p.add_argument("--data", help="an existing texmex directory instead of a generated one")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="scale-")
    data = args.data
    if not data:
        data = os.path.join(work, "set")
        subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "make_clustered.py"),
                        "--count", str(args.count), "--dimension", str(args.dimension), "--out", data], check=True)
    base = read_fvecs(os.path.join(data, "base.fvecs"))
    queries = read_fvecs(os.path.join(data, "queries.fvecs"))
    truth = read_ivecs(os.path.join(data, "groundtruth.ivecs"))
    server = Gateway(work, args.gateway, args.loops)
    server.start()
    server.wait_ready()
    figures = {"count": len(base), "dimension": base.shape[1]}
    try:
        collection = server.client().create_collection(
            "scale", configuration={"hnsw": {"space": "cosine", "ef_construction": 200, "max_neighbors": 16}},
            embedding_function=None)
        started = time.time()
        for start in range(0, len(base), args.batch):
            end = min(len(base), start + args.batch)
            collection.add(ids=[f"r{i}" for i in range(start, end)], embeddings=base[start:end])
        figures["ingest_records_per_s"] = round(len(base) / (time.time() - started))
        figures["linked_after_s"] = round(time.time() - started + wait_linked(server, timeout=3600), 1)
        hits = 0
        for start in range(0, len(queries), 100):
            got = collection.query(query_embeddings=queries[start:start + 100], n_results=10, include=["distances"])["ids"]
            for row, want in zip(got, truth[start:start + 100]):
                hits += len({f"r{i}" for i in want[:10]} & set(row))
        figures["recall_at_10"] = hits / (10 * len(queries))
        figures["restart_s"] = []
        figures["rss_mib"] = []
        for _ in range(args.rounds):
            figures["restart_s"].append(round(restart(server, "scale", base.shape[1]), 3))
            figures["rss_mib"].append(round(rss_kib(server.process.pid) / 1024, 1))
        figures["restart_after_kill_s"] = round(restart(server, "scale", base.shape[1], kill=True), 3)
        log = open(os.path.join(work, "gateway.log")).read().splitlines()
        figures["loaded"] = [line[-240:] for line in log if "collection loaded" in line]
    finally:
        server.stop()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
