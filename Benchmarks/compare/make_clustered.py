#!/usr/bin/env python3
"""Writes a seeded clustered data set in texmex format (base.fvecs, queries.fvecs, and exact
top-100 cosine ground truth in groundtruth.ivecs) for scale runs."""
import argparse, os
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--count", type=int, default=1_000_000); ap.add_argument("--queries", type=int, default=1000)
ap.add_argument("--dimension", type=int, default=128); ap.add_argument("--clusters", type=int, default=1000)
ap.add_argument("--out", required=True); ap.add_argument("--seed", type=int, default=7)
a = ap.parse_args()
os.makedirs(a.out, exist_ok=True)
rng = np.random.default_rng(a.seed)
centres = rng.standard_normal((a.clusters, a.dimension), dtype=np.float32)
def sample(n):
    x = centres[rng.integers(0, a.clusters, n)] + 0.6 * rng.standard_normal((n, a.dimension), dtype=np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
base, queries = sample(a.count), sample(a.queries)
def write_vecs(path, x, dtype):
    n, d = x.shape
    rows = np.empty((n, d + 1), dtype=dtype)
    rows[:, 0] = np.array(d, dtype=np.int32).view(dtype) if dtype == np.float32 else d
    rows[:, 1:] = x
    rows.tofile(path)
write_vecs(f"{a.out}/base.fvecs", base, np.float32)
write_vecs(f"{a.out}/queries.fvecs", queries, np.float32)
truth = np.empty((a.queries, 100), dtype=np.int32)
for start in range(0, a.queries, 100):
    sims = queries[start:start + 100] @ base.T
    top = np.argpartition(-sims, 100, axis=1)[:, :100]
    order = np.take_along_axis(sims, top, axis=1).argsort(axis=1)[:, ::-1]
    truth[start:start + 100] = np.take_along_axis(top, order, axis=1)
write_vecs(f"{a.out}/groundtruth.ivecs", truth, np.int32)
