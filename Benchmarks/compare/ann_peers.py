#!/usr/bin/env python3
"""The peers of ann-bench, measured the same way: hnswlib (PyPI `hnswlib`) and faiss
(PyPI `faiss-cpu`, IndexHNSWFlat with inner product) build with M and efConstruction on
`--threads` threads, then answer queries one at a time on one thread for each ef.
Prints JSON lines in ann-bench's format."""
import argparse, json, os, resource, time
import numpy as np

def read_fvecs(p):
    a = np.fromfile(p, dtype="<i4"); d = a[0]
    return np.ascontiguousarray(a.reshape(-1, d + 1)[:, 1:].view("<f4"))

def read_ivecs(p):
    a = np.fromfile(p, dtype="<i4"); d = a[0]
    return a.reshape(-1, d + 1)[:, 1:]

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--library", choices=["hnswlib", "faiss"], required=True)
    ap.add_argument("--base", required=True); ap.add_argument("--queries", required=True)
    ap.add_argument("--groundtruth", required=True)
    ap.add_argument("--m", type=int, default=16); ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", default="10,16,24,32,48,64,96,128,200,256"); ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1); ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    before = rss()  # index memory: resident after the input is freed, minus resident before reading it
    base, queries, truth = read_fvecs(a.base), read_fvecs(a.queries), read_ivecs(a.groundtruth)
    n, d = base.shape
    t0 = time.perf_counter()
    if a.library == "hnswlib":
        import hnswlib
        index = hnswlib.Index(space="ip", dim=d)
        index.init_index(max_elements=n, M=a.m, ef_construction=a.ef_construction, random_seed=100)
        index.add_items(base, np.arange(n), num_threads=a.threads)
        index.set_num_threads(1)
    else:
        import faiss
        faiss.omp_set_num_threads(a.threads)
        index = faiss.IndexHNSWFlat(d, a.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = a.ef_construction
        index.add(base)
        faiss.omp_set_num_threads(1)
    build = time.perf_counter() - t0
    del base
    import gc; gc.collect()
    print(json.dumps({"phase": "build", "library": a.library, "seconds": build, "threads": a.threads,
                      "rss_delta_bytes": rss() - before, "count": n, "dimension": d}), flush=True)
    for ef in [int(x) for x in a.ef.split(",") if x]:
        best, hits = float("inf"), 0
        for r in range(max(1, a.repeats)):
            found = 0
            t = time.perf_counter()
            if a.library == "hnswlib":
                index.set_ef(ef)
                for i in range(len(queries)):
                    labels, _ = index.knn_query(queries[i:i + 1], k=a.k)
                    if r == 0:
                        found += len(set(labels[0].tolist()) & set(truth[i, :a.k].tolist()))
            else:
                index.hnsw.efSearch = ef
                for i in range(len(queries)):
                    _, labels = index.search(queries[i:i + 1], a.k)
                    if r == 0:
                        found += len(set(labels[0].tolist()) & set(truth[i, :a.k].tolist()))
            best = min(best, time.perf_counter() - t)
            if r == 0:
                hits = found
        print(json.dumps({"ef": ef, "recall": hits / (len(queries) * a.k), "qps": len(queries) / best}), flush=True)

main()
