"""Generation jobs end to end: the real `aiwriter` binary (`serve` with in-process workers, and
`aiwriter worker` processes) against the programmable upstream (`fake_upstream.py`), on SQLite
and on a private PostgreSQL this script starts and restarts itself.

Run by scripts/test.sh: `python Tests/python/jobs_test.py BINARY`. Exits non-zero on the first
failure. What it proves: bad requests are 4xx at submission; a job's answer becomes exactly one
document version (and one collection record); idempotency keys; the event stream, resumed with
Last-Event-ID, misses nothing and repeats nothing; retries and dead letters; cancels abort the
upstream call; kill -9 of a worker mid-stream is finished by another after the lease; 1,000
jobs over three worker processes are each done exactly once; a PostgreSQL restart mid-run
loses nothing; SIGTERM hands a running job back.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_upstream import Upstream  # noqa: E402
from harness import check, free_port, psql, wait_until  # noqa: E402

BINARY = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

class Cluster:
    """One configuration, a database, and the processes run on it."""

    def __init__(self, upstream, work, database_url=None, serve_workers=4, lease="1500ms"):
        self.work = work
        os.makedirs(work, exist_ok=True)
        self.data = os.path.join(work, "data")
        self.database_url = database_url
        self.config = os.path.join(work, "gateway.yaml")
        with open(self.config, "w") as f:
            f.write(f"""
ai-providers:
  - name: up
    kind: openai
    base-url: "{upstream.base_url}"
ai-models:
  - name: writer
    targets: ["up/writer"]
  - name: flaky
    targets: ["up/flaky"]
  - name: slow
    targets: ["up/slow"]
  - name: refuses
    targets: ["up/refuses"]
  - name: embedder
    targets: ["up/embed"]
ai-first-byte-timeout: 5s
ai-idle-timeout: 5s
ai-cache: off
jobs-lease: {lease}
jobs-retry-backoff: 100ms
jobs-poll-interval: 50ms
jobs-embedding-model: embedder
drain-timeout: 1s
""")
        self.base = ["--config", self.config, "--data-dir", self.data]
        if database_url:
            self.base += ["--database-url", database_url]
        subprocess.run([BINARY, "migrate", *self.base], check=True, capture_output=True)
        cli = lambda *a: subprocess.run([BINARY, *a, *self.base], check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        self.writer = cli("keys", "create", "--tenant", "t1", "--role", "writer", "--rate", "100000/s", "--burst", "100000")
        self.reader = cli("keys", "create", "--tenant", "t1", "--role", "reader", "--rate", "100000/s", "--burst", "100000")
        self.other = cli("keys", "create", "--tenant", "t2", "--role", "writer", "--rate", "100000/s", "--burst", "100000")
        self.processes = []
        self.port = None
        self.serve(serve_workers)

    def start(self, *args, log):
        handle = open(os.path.join(self.work, log), "a")
        process = subprocess.Popen([BINARY, *args, *self.base, "--loops", "2"], stdout=handle, stderr=handle)
        self.processes.append(process)
        return process

    def serve(self, workers):
        self.port = free_port()
        self.server = self.start("serve", "--port", str(self.port), "--jobs-workers", str(workers), log="serve.log")
        wait_until(lambda: self.ready(), 30, "the gateway answers /healthz")

    def worker(self, slots=4, log="worker.log"):
        return self.start("worker", "--jobs-workers", str(slots), log=log)

    def ready(self):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1).read()
            return True
        except Exception:
            return False

    def call(self, method, path, body=None, key=None, headers=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        request.add_header("Authorization", "Bearer " + (key or self.writer))
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
                return response.status, dict(response.headers), json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, dict(e.headers), json.loads(text)
            except ValueError:
                return e.code, dict(e.headers), text

    def submit(self, body, key=None, headers=None):
        # A 503 (the database just came back, a pooled connection found dead) is retried, as a
        # client would; anything else is the answer.
        for _ in range(40):
            status, answer_headers, job = self.call("POST", "/v1/generations", body, key=key, headers=headers)
            if status != 503:
                break
            time.sleep(0.25)
        check(status == 202, f"submitted ({status} {job if status != 202 else ''})")
        return job

    def job(self, job_id, key=None):
        return self.call("GET", f"/v1/generations/{job_id}", key=key)[2]

    def finished(self, job_id, seconds=30):
        return wait_until(lambda: (lambda j: j if j["status"] in ("succeeded", "failed", "cancelled") else None)(self.job(job_id)),
                          seconds, f"job {job_id} ends")

    def events(self, job_id, last_event_id=None, timeout=30):
        """The event stream until it ends: [(id or None, type, data)]."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/v1/generations/{job_id}/events")
        request.add_header("Authorization", "Bearer " + self.reader)
        if last_event_id is not None:
            request.add_header("Last-Event-ID", str(last_event_id))
        out = []
        with urllib.request.urlopen(request, timeout=timeout) as response:
            check(response.headers["Content-Type"].startswith("text/event-stream"), "events are Server-Sent Events")
            event = {}
            for line in response:
                line = line.decode().rstrip("\n")
                if line == "":
                    if "event" in event:
                        out.append((int(event["id"]) if "id" in event else None, event["event"], json.loads(event["data"])))
                    event = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    event[name] = value
        return out

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

def test_sqlite(upstream, work):
    c = Cluster(upstream, os.path.join(work, "sqlite"))
    try:
        # Bad input is a 4xx at submission, never a failed job later.
        cases = [
            ({"model": "nobody", "prompt": "x"}, 404, "an unknown model"),
            ({"model": "writer", "messages": "hello"}, 400, "messages that are not an array"),
            ({"model": "writer", "messages": [{"role": "wizard", "content": "x"}]}, 400, "a message with an unknown role"),
            ({"model": "writer", "messages": [{"role": "user"}]}, 400, "a message without content"),
            ({"model": "writer", "prompt": "x", "colour": "red"}, 400, "an unknown field"),
            ({"model": "writer", "prompt": "x", "params": {"stream": False}}, 400, "a parameter the job decides"),
            ({"model": "writer", "prompt": "x", "params": {"max_tokens": -1}}, 400, "a parameter the proxy refuses"),
            ({"model": "writer", "prompt": "x", "collection": "missing"}, 404, "a collection that does not exist"),
            ({"model": "writer", "prompt": "x", "document_id": 999999}, 404, "a document that does not exist"),
            ({"model": "writer", "prompt": "x" * (2 << 20)}, 413, "a huge prompt"),
        ]
        for body, status, what in cases:
            got = c.call("POST", "/v1/generations", body)
            check(got[0] == status, f"{what} is {status} (got {got[0]}: {got[2] if not isinstance(got[2], bytes) else ''})")
        check(c.call("POST", "/v1/generations", raw=b'{"model": "writer", "prompt": "\xff"}')[0] == 400, "broken UTF-8 is 400")
        check(c.call("POST", "/v1/generations", {"model": "writer", "prompt": "x"}, key=c.reader)[0] == 403, "a reader cannot submit")
        status, _, theirs = c.call("POST", "/v1/documents", {"title": "theirs", "content": "b"}, key=c.other)
        check(status == 201, "another tenant has a document")
        check(c.call("POST", "/v1/generations", {"model": "writer", "prompt": "x", "document_id": theirs["id"]})[0] == 404,
              "another tenant's document is 404")

        # One job: its answer is a new document, its events tell its life.
        status, headers, job = c.call("POST", "/v1/generations", {"model": "writer", "prompt": "Write a story.", "title": "Story"})
        check(status == 202 and headers["Location"] == f"/v1/generations/{job['id']}", "202 with Location")
        check(job["status"] == "queued" and job["model"] == "writer", "the job starts queued")
        done = c.finished(job["id"])
        check(done["status"] == "succeeded" and done["attempts"] == 1, f"the job succeeds ({done})")
        check(done["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}, "usage is kept")
        status, _, document = c.call("GET", f"/v1/documents/{done['document_id']}", key=c.reader)
        check(document["content"] == "Once upon a time." and document["title"] == "Story" and document["version"] == 1,
              "the answer is a new document")
        check(c.call("GET", f"/v1/generations/{job['id']}", key=c.other)[0] == 404, "another tenant's job is 404")
        events = c.events(job["id"])
        types = [t for _, t, _ in events]
        check(types[0] == "queued" and types[1] == "started" and types[-2:] == ["stored", "done"], f"the life in order ({types})")
        check("".join(d["content"] for _, t, d in events if t == "delta") == "Once upon a time.", "the deltas make the answer")
        check(events[-2][2]["document_id"] == done["document_id"], "stored names the document")
        ids = [i for i, _, _ in events if i is not None]
        check(ids == sorted(ids) and len(set(ids)) == len(ids), "event ids grow")
        middle = ids[1]
        resumed = c.events(job["id"], last_event_id=middle)
        check([i for i, _, _ in resumed if i is not None] == [i for i in ids if i > middle], "Last-Event-ID resumes after it: nothing missed, nothing twice")

        # An idempotency key names one job for 24 hours.
        first = c.submit({"model": "writer", "prompt": "Once."}, headers={"Idempotency-Key": "abc-1"})
        status, headers, again = c.call("POST", "/v1/generations", {"model": "writer", "prompt": "Once."}, headers={"Idempotency-Key": "abc-1"})
        check(status == 202 and again["id"] == first["id"] and headers.get("Idempotent-Replayed") == "true", "the same key returns the same job")
        check(c.call("POST", "/v1/generations", {"model": "writer", "prompt": "Twice."}, headers={"Idempotency-Key": "abc-1"})[0] == 422,
              "the same key with another request is 422")
        c.finished(first["id"])

        # A job on an existing document writes its next version, once.
        v2 = c.finished(c.submit({"model": "writer", "prompt": "Again.", "document_id": done["document_id"]})["id"])
        check(v2["document_id"] == done["document_id"] and v2["document_version"] == 2, "a new version of the document")
        status, _, history = c.call("GET", f"/v1/documents/{done['document_id']}/versions", key=c.reader)
        check(len(history["versions"]) == 2, "exactly one version added")

        # Into a collection: embedded through the proxy and upserted as the job's record.
        check(c.call("POST", "/v1/collections", {"name": "drafts", "dimension": 8, "metric": "cosine"})[0] == 201, "a collection")
        embedded = c.finished(c.submit({"model": "writer", "prompt": "Embed me.", "collection": "drafts"})["id"])
        check(embedded["status"] == "succeeded" and embedded["record_id"] == f"generation-{embedded['id']}", f"the record is named ({embedded})")
        status, _, got = wait_until(lambda: (lambda r: r if r[0] == 200 and r[2]["records"] else None)(
            c.call("POST", "/v1/collections/drafts/records/get", {"ids": [embedded["record_id"]], "include": ["documents"]}, key=c.reader)),
            5, "the record is readable")
        check(got["records"][0]["document"] == "Once upon a time.", "the record holds the answer")

        # Failures that can pass are retried with backoff; those that cannot fail at once.
        upstream.plan("flaky", ("status", 502, {}, {"error": {"message": "bad gateway", "type": "server_error"}}))
        retried = c.finished(c.submit({"model": "flaky", "prompt": "x"})["id"])
        check(retried["status"] == "succeeded" and retried["attempts"] == 2, f"a 502 is retried ({retried})")
        check("retrying" in [t for _, t, _ in c.events(retried["id"])], "the retry is an event")
        upstream.plan("refuses", ("status", 400, {}, {"error": {"message": "context too long", "type": "invalid_request_error"}}))
        refused = c.finished(c.submit({"model": "refuses", "prompt": "x"})["id"])
        check(refused["status"] == "failed" and refused["attempts"] == 1 and "context too long" in refused["error"], "a 400 fails at once")
        upstream.plan("flaky", *[("status", 503, {}, {"error": {"message": "overloaded", "type": "server_error"}})] * 3)
        dead = c.finished(c.submit({"model": "flaky", "prompt": "y"})["id"])
        check(dead["status"] == "failed" and dead["attempts"] == 3, "after the last attempt: failed with the reason")
        status, _, page = c.call("GET", "/v1/generations?status=failed", key=c.reader)
        check({j["id"] for j in page["generations"]} == {refused["id"], dead["id"]}, "the dead letters are listed")

        # Cancel: a running call is aborted upstream.
        upstream.plan("slow", ("slow", 0.2, 100))
        aborted_before = upstream.aborted
        slow = c.submit({"model": "slow", "prompt": "z"})
        wait_until(lambda: c.job(slow["id"])["status"] == "running", 10, "the slow job runs")
        time.sleep(0.5)
        status, _, cancelling = c.call("POST", f"/v1/generations/{slow['id']}/cancel")
        check(status == 200 and cancelling["cancel_requested"], "cancel is accepted")
        cancelled = c.finished(slow["id"])
        check(cancelled["status"] == "cancelled" and cancelled["document_id"] is None, "the job is cancelled, nothing stored")
        wait_until(lambda: upstream.aborted > aborted_before, 10, "the upstream call is aborted")
        check(c.call("POST", f"/v1/generations/{slow['id']}/cancel")[0] == 409, "a finished job cannot be cancelled")

        # Keyset pages.
        status, _, page = c.call("GET", "/v1/generations?limit=2", key=c.reader)
        check(len(page["generations"]) == 2 and page["next_cursor"], "a first page")
        status, _, rest = c.call("GET", f"/v1/generations?limit=1000&cursor={page['next_cursor']}", key=c.reader)
        check(page["generations"][1]["id"] > rest["generations"][0]["id"], "the next page continues it")
        check(c.call("GET", "/v1/generations?status=odd", key=c.reader)[0] == 400, "an unknown status is 400")

        # Many jobs on one process: each done once.
        ids = [c.submit({"model": "writer", "prompt": f"n{i}"})["id"] for i in range(200)]
        for i in ids:
            c.finished(i, seconds=60)
        jobs = [c.job(i) for i in ids]
        check(all(j["status"] == "succeeded" for j in jobs), "200 jobs succeed")
        check(len({j["document_id"] for j in jobs}) == 200, "200 documents, one each")
    finally:
        c.stop()

def test_postgres(upstream, work):
    pg_dir = tempfile.mkdtemp(prefix="aiwriter-jobs-pg-")
    os.chmod(pg_dir, 0o755)
    port = free_port()
    url = subprocess.run([os.path.join(ROOT, "scripts/postgres.sh"), "start", pg_dir, str(port)], check=True, capture_output=True,
                         text=True).stdout.strip()
    c = None
    try:
        c = Cluster(upstream, os.path.join(work, "postgres"), database_url=url, serve_workers=0, lease="1500ms")

        # kill -9 of a worker mid-stream: after the lease another completes it, once.
        check(c.call("POST", "/v1/collections", {"name": "drafts", "dimension": 8, "metric": "cosine"})[0] == 201, "a collection")
        upstream.plan("slow", ("slow", 0.1, 80))
        first = c.worker(slots=1, log="worker-a.log")
        job = c.submit({"model": "slow", "prompt": "long", "collection": "drafts"})
        wait_until(lambda: psql(url, f"SELECT count(*) FROM job_events WHERE job_id = {job['id']} AND type = 'delta'") != "0", 15,
                   "the job streams")
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = c.worker(slots=1, log="worker-b.log")
        done = c.finished(job["id"], seconds=30)
        check(done["status"] == "succeeded" and done["attempts"] == 2, f"another worker finished it ({done})")
        check(psql(url, f"SELECT count(*) FROM document_versions WHERE document_id = {done['document_id']}") == "1", "one document version")
        check(psql(url, f"SELECT count(*) FROM records WHERE external_id = 'generation-{job['id']}'") == "1", "one collection record")
        types = [t for _, t, _ in c.events(job["id"])]
        check(types.count("started") == 2 and types[-1] == "done", "the stream shows both attempts")
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=10)

        # 1,000 jobs over three worker processes: each done exactly once.
        workers = [c.worker(slots=8, log=f"worker-{k}.log") for k in range(3)]
        ids = [c.submit({"model": "writer", "prompt": f"p{i}"})["id"] for i in range(1000)]
        # PostgreSQL restarted mid-run: workers back off, reconnect and finish.
        time.sleep(0.5)
        subprocess.run([os.path.join(ROOT, "scripts/postgres.sh"), "stop", pg_dir], check=True)
        time.sleep(2)
        subprocess.run([os.path.join(ROOT, "scripts/postgres.sh"), "start", pg_dir, str(port)], check=True, capture_output=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            left = psql(url, f"SELECT count(*) FROM jobs WHERE id >= {ids[0]} AND state NOT IN ('succeeded', 'failed', 'cancelled')")
            if left == "0":
                break
            time.sleep(0.5)
        rows = psql(url, f"SELECT state, count(*) FROM jobs WHERE id >= {ids[0]} GROUP BY state")
        check(rows == "succeeded|1000", f"1,000 jobs succeeded across three workers and a database restart ({rows})")
        check(psql(url, f"SELECT count(DISTINCT document_id) FROM jobs WHERE id >= {ids[0]}") == "1000", "1,000 distinct documents")
        check(psql(url, "SELECT count(*) FROM documents WHERE metadata ? 'generation_id'") ==
              psql(url, "SELECT count(DISTINCT metadata->>'generation_id') FROM documents WHERE metadata ? 'generation_id'"),
              "no job wrote two documents")
        check(psql(url, f"SELECT count(*) FROM document_versions v JOIN jobs j ON j.document_id = v.document_id WHERE j.id >= {ids[0]}") == "1000",
              "one version each")
        stuck = psql(url, "SELECT count(*) FROM jobs WHERE state = 'running'")
        check(stuck == "0", "no job left running")
        for w in workers:
            w.send_signal(signal.SIGTERM)
        codes = [w.wait(timeout=15) for w in workers]
        check(codes == [0, 0, 0], f"workers drain and exit 0 ({codes})")

        # SIGTERM while a job runs: drained within the timeout, the job handed back, not lost.
        upstream.plan("slow", ("slow", 0.2, 100))
        draining = c.worker(slots=1, log="worker-drain.log")
        slow = c.submit({"model": "slow", "prompt": "drain"})
        wait_until(lambda: c.job(slow["id"])["status"] == "running", 10, "the slow job runs")
        draining.send_signal(signal.SIGTERM)
        check(draining.wait(timeout=10) == 0, "the worker exits after its drain timeout")
        back = c.job(slow["id"])
        check(back["status"] == "queued" and back["attempts"] == 0, f"the job is handed back, its attempt not counted ({back})")
        upstream.plan("slow", ("ok",))
        finisher = c.worker(slots=1, log="worker-final.log")
        check(c.finished(slow["id"])["status"] == "succeeded", "another worker finishes it")
        finisher.send_signal(signal.SIGTERM)
        finisher.wait(timeout=10)
    finally:
        if c:
            c.stop()
        subprocess.run([os.path.join(ROOT, "scripts/postgres.sh"), "stop", pg_dir])
        shutil.rmtree(pg_dir, ignore_errors=True)

def main():
    upstream = Upstream()
    work = tempfile.mkdtemp(prefix="aiwriter-jobs-")
    try:
        test_sqlite(upstream, work)
        upstream.reset()
        test_postgres(upstream, work)
    except SystemExit:
        print("logs kept in", work)
        raise
    finally:
        upstream.stop()
    shutil.rmtree(work, ignore_errors=True)
    print("all jobs tests passed")

if __name__ == "__main__":
    main()
