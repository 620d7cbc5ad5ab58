"""The real `chromadb` client (1.5.9, from PyPI) against the real gateway binary over sockets.

Run by scripts/test.sh: `python Tests/python/chroma_client_test.py BINARY`. Needs numpy and
chromadb (scripts/python-env.sh installs them); uses PostgreSQL when AIWRITER_TEST_DATABASE_URL
is set. Answers are compared with exact numpy computation on the shared MiniLM vectors (or on
generated ones when the data set is absent). Every scenario starts its own gateways on loopback
and stops them; the script exits non-zero on the first failure.
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

import numpy as np
import chromadb
from chromadb import errors as chroma_errors

BINARY = os.path.abspath(sys.argv[1])
DATA = os.path.join(os.path.dirname(__file__), "../../../shared/data/minilm-gcide")
PG_URL = os.environ.get("AIWRITER_TEST_DATABASE_URL")


def read_fvecs(path, count):
    a = np.fromfile(path, dtype="<i4", count=count * 385)
    return a.reshape(-1, 385)[:, 1:].view("<f4").copy()


def dataset(n, q):
    if os.path.exists(os.path.join(DATA, "base.fvecs")):
        base = read_fvecs(os.path.join(DATA, "base.fvecs"), n)
        queries = read_fvecs(os.path.join(DATA, "queries.fvecs"), q)
        texts = []
        with open(os.path.join(DATA, "base.jsonl"), encoding="utf-8") as f:
            for _, line in zip(range(n), f):
                texts.append(json.loads(line)["text"])
        return base, queries, texts
    # Clustered, as sentence embeddings are (make_clustered.py's model): isotropic Gaussian
    # vectors in 384 dimensions have no neighbourhood structure, and no graph index (hnswlib's
    # neither) reaches these recall bounds on them.
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((max(8, n // 100), 384)).astype(np.float32)
    def sample(count):
        x = centres[rng.integers(0, len(centres), count)] + 0.6 * rng.standard_normal((count, 384)).astype(np.float32)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    base, queries = sample(n), sample(q)
    return base, queries, [f"generated passage {i} about the {['cat', 'dog', 'sea'][i % 3]}" for i in range(n)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_pg_database():
    """A new empty database on the test server, as a URL."""
    name = "chroma_" + uuid.uuid4().hex[:12]
    base = PG_URL.rsplit("/", 1)[0]
    subprocess.run(["psql", PG_URL, "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    return f"{base}/{name}"


class Gateway:
    """One aiwriter process on loopback with its own data directory."""

    def __init__(self, data_dir, database_url=None, extra=()):
        self.data_dir = data_dir
        self.database_url = database_url
        self.extra = list(extra)
        self.port = free_port()
        self.process = None
        self.log_path = os.path.join(data_dir, "gateway.log")

    def flags(self):
        flags = ["--data-dir", self.data_dir]
        if self.database_url:
            flags += ["--database-url", self.database_url]
        return flags

    def cli(self, *args):
        out = subprocess.run([BINARY, *args, *self.flags()], check=True, capture_output=True, text=True)
        return out.stdout.strip().splitlines()

    def key(self, tenant, role):
        if self.database_url:
            self.cli("migrate")
        return self.cli("keys", "create", "--tenant", tenant, "--role", role, "--rate", "100000/s", "--burst", "100000")[-1]

    def start(self):
        if self.database_url:
            self.cli("migrate")
        log = open(self.log_path, "a")
        self.process = subprocess.Popen([BINARY, "serve", *self.flags(), "--port", str(self.port),
                                         "--collection-follow-interval", "100ms", *self.extra],
                                        stdout=log, stderr=log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1).read()
                return self
            except Exception:
                if self.process.poll() is not None:
                    raise RuntimeError("gateway exited:\n" + open(self.log_path).read()[-3000:])
                time.sleep(0.05)
        raise RuntimeError("gateway did not start")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)

    def client(self, key, tenant="default_tenant"):
        return chromadb.HttpClient(host="127.0.0.1", port=self.port, headers={"Authorization": "Bearer " + key}, tenant=tenant)

    def raw(self, method, path, key, body=b""):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body or None, method=method,
                                         headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


def normalise(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact_cosine(base, queries, k, mask=None):
    scores = normalise(queries) @ normalise(base).T
    if mask is not None:
        scores[:, ~mask] = -np.inf
    order = np.argsort(-scores, axis=1)[:, :k]
    return order, 1 - np.take_along_axis(scores, order, axis=1)


def recall(got_ids, exact_rows):
    hits = total = 0
    for got, want in zip(got_ids, exact_rows):
        want = {f"r{i}" for i in want}
        hits += len(want & set(got))
        total += len(want)
    return hits / max(total, 1)


def check(condition, message):
    if not condition:
        raise AssertionError(message)
    print("  ok:", message)


def expect_error(kind, call, what):
    try:
        call()
    except kind as e:
        print(f"  ok: {what} -> {type(e).__name__}: {str(e)[:80]}")
        return
    except Exception as e:
        raise AssertionError(f"{what}: expected {kind.__name__}, got {type(e).__name__}: {e}")
    raise AssertionError(f"{what}: no error")


def scenario_api(label, database_url):
    print(f"[{label}] every client call, answers against numpy")
    n, q = 5000, 100
    base, queries, texts = dataset(n, q)
    directory = tempfile.mkdtemp(prefix="chroma-api-")
    gateway = Gateway(directory, database_url)
    writer = gateway.key("acme", "writer")
    reader = gateway.key("acme", "reader")
    stranger = gateway.key("rival", "writer")
    gateway.start()
    try:
        client = gateway.client(writer)
        check(client.heartbeat() > 0 and client.get_version() == "1.5.9", "heartbeat and version")
        col = client.create_collection("minilm", configuration={"hnsw": {"space": "cosine", "ef_construction": 200, "max_neighbors": 16}},
                                       embedding_function=None)
        ids = [f"r{i}" for i in range(n)]
        metadatas = [{"bucket": i % 10, "half": i < n // 2, "score": float(i) / n} for i in range(n)]
        for start in range(0, n, 1000):
            col.add(ids=ids[start:start + 1000], embeddings=base[start:start + 1000], metadatas=metadatas[start:start + 1000],
                    documents=texts[start:start + 1000])
        check(col.count() == n, f"count is {n}")

        exact_ids, exact_d = exact_cosine(base, queries, 10)
        got = col.query(query_embeddings=queries, n_results=10, include=["distances"])
        r = recall(got["ids"], exact_ids)
        check(r >= 0.95, f"recall@10 {r:.3f} >= 0.95")
        # Distances are 1 - cos (within float16 storage's error) wherever the nearest record was
        # found; the graph may miss a query's nearest now and then (recall above bounds that).
        d = np.array([row[0] for row in got["distances"]])
        same = np.array([row[0] == f"r{want[0]}" for row, want in zip(got["ids"], exact_ids)])
        check(same.mean() >= 0.97, f"the nearest record is found first for {same.mean():.3f} of the queries")
        check(np.allclose(d[same], exact_d[same, 0], atol=2e-3), "nearest distances match 1 - cos")

        for label_f, where, mask in [
            ("bucket == 3 (10 %)", {"bucket": 3}, np.array([m["bucket"] == 3 for m in metadatas])),
            ("bucket in [1,2] and half (10 %)", {"$and": [{"bucket": {"$in": [1, 2]}}, {"half": True}]},
             np.array([m["bucket"] in (1, 2) and m["half"] for m in metadatas])),
            ("score < 0.01 (1 %)", {"score": {"$lt": 0.01}}, np.array([m["score"] < 0.01 for m in metadatas])),
            ("bucket != 0 (90 %)", {"bucket": {"$ne": 0}}, np.array([m["bucket"] != 0 for m in metadatas])),
        ]:
            exact_f, _ = exact_cosine(base, queries, 10, mask)
            got_f = col.query(query_embeddings=queries, n_results=10, where=where, include=["metadatas"])
            check(all(mask[int(i[1:])] for row in got_f["ids"] for i in row), f"{label_f}: every result passes the filter")
            rf = recall(got_f["ids"], exact_f)
            check(rf >= 0.95, f"{label_f}: recall@10 {rf:.3f} >= 0.95")

        word = texts[0].split()[0]
        contains = col.get(where_document={"$contains": word}, include=["documents"])
        check(set(contains["ids"]) == {f"r{i}" for i, t in enumerate(texts) if word in t}, f"$contains {word!r} = exact")

        g = col.get(ids=["r10", "r11"], include=["embeddings", "metadatas", "documents"])
        check(g["ids"] == ["r10", "r11"] and np.array_equal(np.asarray(g["embeddings"], dtype=np.float32), base[10:12]),
              "get returns the float32 vectors as sent")
        check(g["metadatas"][0] == metadatas[10] and g["documents"][1] == texts[11], "get returns metadata and documents")
        page = col.get(where={"bucket": 7}, limit=5, offset=2, include=[])
        check(page["ids"] == [f"r{i}" for i in range(7, n, 10)][2:7], "get with where, limit and offset in insertion order")
        check(len(col.peek(3)["ids"]) == 3, "peek")

        col.update(ids=["r10"], metadatas=[{"bucket": 99, "score": None}])
        check(col.get(ids=["r10"])["metadatas"] == [{"bucket": 99, "half": True}], "update merges metadata, None deletes a key")
        col.add(ids=["r11"], embeddings=base[12:13], documents=["should not replace"])
        check(col.get(ids=["r11"])["documents"] == [texts[11]], "add of an existing id keeps the stored record")
        col.upsert(ids=["r11"], embeddings=base[12:13], metadatas=[{"moved": True}], documents=["moved"])
        top = col.query(query_embeddings=base[12:13], n_results=2)["ids"][0]
        check(set(top) == {"r11", "r12"}, "upsert replaces the vector (found next to its twin)")
        merged = col.get(ids=["r11"], include=["metadatas", "documents"])
        check(merged["metadatas"] == [dict(metadatas[11], moved=True)] and merged["documents"] == ["moved"],
              "upsert of an existing id merges its metadata, as update does")
        col.upsert(ids=["r11", "u-new"], embeddings=base[12:14], metadatas=[{"moved": None}, {"fresh": 1}])
        after = col.get(ids=["r11", "u-new"], include=["metadatas", "documents"])
        check(after["metadatas"] == [metadatas[11], {"fresh": 1}] and after["documents"] == ["moved", None],
              "upsert: None removes a key and a missing document is kept; a new id is added")
        col.delete(ids=["u-new"])
        before = col.count()
        col.delete(where={"bucket": 5})
        check(col.count() == before - n // 10, "delete by where")
        col.delete(ids=["r0", "r1"])
        check(col.count() == before - n // 10 - 2, "delete by ids")

        expect_error(chroma_errors.InvalidArgumentError, lambda: col.add(ids=["bad"], embeddings=[[1.0, 2.0]]), "wrong dimension")
        expect_error(chroma_errors.NotFoundError, lambda: client.get_collection("nope"), "missing collection")
        expect_error(Exception, lambda: col.query(query_embeddings=queries[:1], where={"bucket": {"$near": 3}}), "unknown operator")
        status, _ = gateway.raw("POST", f"/api/v2/tenants/default_tenant/databases/default_database/collections/{col.id}/add", writer,
                                b'{"ids":["\xc3\x28"],"embeddings":[[1]]}')
        check(status == 400, "invalid UTF-8 in a body: 400")
        status, _ = gateway.raw("POST", f"/api/v2/tenants/default_tenant/databases/default_database/collections/{col.id}/add", writer,
                                b'{"ids":["x"],"embeddings":[[' + b"1," * 383 + b'1]],"extra":1}')
        check(status == 400, "unknown field: 400")

        # Roles and tenants.
        reading = gateway.client(reader).get_collection("minilm", embedding_function=None)
        check(len(reading.query(query_embeddings=queries[:1], n_results=3)["ids"][0]) == 3, "a reader queries")
        expect_error(chroma_errors.AuthorizationError, lambda: reading.add(ids=["x"], embeddings=base[:1]), "a reader cannot write")
        rival = gateway.client(stranger)
        expect_error(chroma_errors.NotFoundError, lambda: rival.get_collection("minilm"), "another tenant, by name")
        vector = json.dumps(base[5].tolist()).encode()
        for path, body in [("query", b'{"query_embeddings":[' + vector + b']}'), ("get", b'{"ids":["r5"]}'),
                           ("delete", b'{"ids":["r5"]}'), ("upsert", b'{"ids":["r5"],"embeddings":[' + vector + b']}')]:
            status, body = gateway.raw("POST", f"/api/v2/tenants/default_tenant/databases/default_database/collections/{col.id}/{path}",
                                       stranger, body)
            check(status == 404 and json.loads(body)["error"] == "NotFoundError", f"another tenant, by UUID: {path} 404")
        check(rival.count_collections() == 0, "another tenant sees no collections")

        # Databases are namespaces of the tenant.
        admin = chromadb.AdminClient(chromadb.config.Settings(chroma_api_impl="chromadb.api.fastapi.FastAPI",
                                                              chroma_server_host="127.0.0.1", chroma_server_http_port=gateway.port,
                                                              chroma_client_auth_provider=None,
                                                              chroma_server_headers={"Authorization": "Bearer " + writer}))
        admin.create_database("books")
        books = chromadb.HttpClient(host="127.0.0.1", port=gateway.port, headers={"Authorization": "Bearer " + writer}, database="books")
        other = books.create_collection("minilm", embedding_function=None)
        check(other.id != col.id and other.count() == 0, "the same name in another database is another collection")
        status, _ = gateway.raw("GET", f"/api/v2/tenants/default_tenant/databases/books/collections/{col.id}/count", writer)
        check(status == 404, "a collection through another database's path: 404")

        col.modify(name="minilm2")
        check(client.get_collection("minilm2", embedding_function=None).id == col.id, "modify renames")
        client.delete_collection("minilm2")
        expect_error(chroma_errors.NotFoundError, lambda: client.get_collection("minilm2"), "deleted")
    finally:
        gateway.stop()
        shutil.rmtree(directory, ignore_errors=True)


def scenario_crash(label, database_url):
    print(f"[{label}] kill -9 during ingest: every acknowledged record is searchable after restart")
    n = 6000
    base, _, texts = dataset(n, 1)
    directory = tempfile.mkdtemp(prefix="chroma-crash-")
    gateway = Gateway(directory, database_url)
    key = gateway.key("acme", "writer")
    gateway.start()
    acknowledged = []
    try:
        col = gateway.client(key).create_collection("crash", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)

        def ingest():
            try:
                for start in range(0, n, 250):
                    col.add(ids=[f"r{i}" for i in range(start, start + 250)], embeddings=base[start:start + 250],
                            documents=texts[start:start + 250])
                    acknowledged.extend(range(start, start + 250))
            except Exception:
                pass

        writer = threading.Thread(target=ingest)
        writer.start()
        while len(acknowledged) < 1500:
            time.sleep(0.01)
        gateway.kill()
        writer.join()
        check(0 < len(acknowledged) < n, f"killed after {len(acknowledged)} acknowledged records")
        gateway.start()
        col = gateway.client(key).get_collection("crash", embedding_function=None)
        count = col.count()
        check(count >= len(acknowledged), f"count {count} >= {len(acknowledged)} acknowledged")
        got = col.get(ids=[f"r{i}" for i in acknowledged], include=[])
        check(len(got["ids"]) == len(acknowledged), "every acknowledged record is stored")
        sample = acknowledged[::25]
        top = col.query(query_embeddings=base[sample], n_results=1, include=[])["ids"]
        missing = [i for i, row in zip(sample, top) if row != [f"r{i}"]]
        check(not missing, f"every sampled acknowledged record is its own nearest neighbour ({len(sample)} checked)")

        # A drain writes snapshots; a corrupted one is rebuilt from the rows.
        gateway.stop()
        snapshots = [os.path.join(directory, "snapshots", f) for f in os.listdir(os.path.join(directory, "snapshots"))]
        check(len(snapshots) == 1, "the drain wrote the collection's snapshot")
        with open(snapshots[0], "r+b") as f:
            f.seek(os.path.getsize(snapshots[0]) // 2)
            f.write(b"\xff" * 64)
        started = time.time()
        gateway.start()
        col = gateway.client(key).get_collection("crash", embedding_function=None)
        check(col.count() == count, "after a corrupt snapshot: every record is back")
        top = col.query(query_embeddings=base[sample], n_results=1, include=[])["ids"]
        check(all(row == [f"r{i}"] for i, row in zip(sample, top)), f"and searchable ({time.time() - started:.2f} s to answer)")
        check("rebuilding from the rows" in open(gateway.log_path).read(), "the rebuild was logged")
    finally:
        gateway.stop()
        shutil.rmtree(directory, ignore_errors=True)


def scenario_replicas(database_url):
    print("[postgres] two replicas on one database: a write on A is answered by B within 1 s")
    base, _, _ = dataset(600, 1)
    a_dir, b_dir = tempfile.mkdtemp(prefix="chroma-a-"), tempfile.mkdtemp(prefix="chroma-b-")
    a, b = Gateway(a_dir, database_url), Gateway(b_dir, database_url)
    key = a.key("acme", "writer")
    a.start()
    b.start()
    try:
        col_a = a.client(key).create_collection("shared", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)
        col_a.add(ids=[f"r{i}" for i in range(500)], embeddings=base[:500])
        col_b = b.client(key).get_collection("shared", embedding_function=None)
        check(col_b.count() == 500, "B loads what A wrote")
        delays = []
        for i in range(500, 520):
            col_a.upsert(ids=[f"r{i}"], embeddings=base[i:i + 1])
            t0 = time.time()
            while col_b.query(query_embeddings=base[i:i + 1], n_results=1, include=[])["ids"][0] != [f"r{i}"]:
                if time.time() - t0 > 5:
                    raise AssertionError(f"r{i} not visible on B after 5 s")
                time.sleep(0.01)
            delays.append(time.time() - t0)
        check(max(delays) < 1.0, f"upsert on A answered by B within {max(delays) * 1000:.0f} ms (median {sorted(delays)[10] * 1000:.0f} ms)")
        col_a.delete(ids=["r3"])
        t0 = time.time()
        while col_b.get(ids=["r3"])["ids"]:
            if time.time() - t0 > 5:
                raise AssertionError("delete not visible on B")
            time.sleep(0.01)
        check(time.time() - t0 < 1.0, "a delete on A reaches B within 1 s")
        a.client(key).delete_collection("shared")
        t0 = time.time()
        while True:
            try:
                col_b.count()
            except chroma_errors.NotFoundError:
                break
            if time.time() - t0 > 5:
                raise AssertionError("B still serves a collection A deleted")
            time.sleep(0.02)
        check(True, "a collection deleted on A is gone on B")
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(a_dir, ignore_errors=True)
        shutil.rmtree(b_dir, ignore_errors=True)


if __name__ == "__main__":
    started = time.time()
    scenario_api("sqlite", None)
    scenario_crash("sqlite", None)
    if PG_URL:
        scenario_api("postgres", fresh_pg_database())
        scenario_crash("postgres", fresh_pg_database())
        scenario_replicas(fresh_pg_database())
    else:
        print("AIWRITER_TEST_DATABASE_URL not set: the PostgreSQL scenarios did not run")
    print(f"chroma client tests passed in {time.time() - started:.1f} s")
