"""The jobs benchmark's two sides (run by Benchmarks/compare/jobs.sh).

  jobs_bench.py submit URL KEY N THREADS         N generation jobs over keep-alive connections
  jobs_bench.py ours DATABASE_URL FIRST_ID N     waits for jobs FIRST_ID.. to end; prints
                                                 "jobs_per_s p50_ms p99_ms succeeded"
  jobs_bench.py celery-enqueue N                 N no-op Celery tasks (BROKER in the environment)
  jobs_bench.py celery TIMES_DIR N               waits for N task times; prints the same line

Throughput is jobs over the span from the first claim to the last completion (so process
start-up is not counted on either side); claim-to-done is, for ours, a job's `claimed_at` to
the completion that stored its document version (`updated_at`), and for Celery a task's
prerun to its postrun signal (the result already stored in Redis).
"""
import http.client
import json
import os
import subprocess
import sys
import threading
import time


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def submit(url, key, n, threads):
    host, port = url.replace("http://", "").split(":")
    body = json.dumps({"model": "bench", "prompt": "Write one line about the sea.", "params": {"max_tokens": 16}})
    counter = iter(range(n))
    lock = threading.Lock()
    failures = []

    def run():
        connection = http.client.HTTPConnection(host, int(port))
        while True:
            with lock:
                if next(counter, None) is None:
                    break
            connection.request("POST", "/v1/generations", body, {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status != 202:
                failures.append(response.status)

    start = time.time()
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failures:
        sys.exit(f"{len(failures)} submissions failed: {failures[:5]}")
    print(f"{n / (time.time() - start):.0f}")


def psql(url, sql):
    return subprocess.run(["psql", url, "-At", "-F", " ", "-c", sql], check=True, capture_output=True, text=True).stdout.strip()


def ours(url, first, n):
    deadline = time.time() + 600
    while time.time() < deadline:
        left = int(psql(url, f"SELECT count(*) FROM jobs WHERE id >= {first} AND state IN ('queued', 'running')"))
        if left == 0:
            break
        # The end is read from the rows' own times: polling often would only take CPU from the run.
        time.sleep(1)
    else:
        sys.exit("jobs did not finish within 600 s")
    line = psql(url, f"""
        SELECT count(*) FILTER (WHERE state = 'succeeded'), min(claimed_at), max(updated_at),
               percentile_disc(0.5) WITHIN GROUP (ORDER BY updated_at - claimed_at),
               percentile_disc(0.99) WITHIN GROUP (ORDER BY updated_at - claimed_at),
               count(DISTINCT document_id), sum(attempts)
        FROM jobs WHERE id >= {first}""")
    succeeded, first_claim, last_done, p50, p99, documents, attempts = (int(x) for x in line.split())
    versions = int(psql(url, f"SELECT count(*) FROM document_versions v JOIN jobs j ON j.document_id = v.document_id WHERE j.id >= {first}"))
    if succeeded != n or documents != n or versions != n:
        sys.exit(f"{succeeded} of {n} succeeded, {documents} documents, {versions} versions: not each done exactly once")
    print(f"{n / ((last_done - first_claim) / 1000):.0f} {p50} {p99} {succeeded} {attempts}")


def celery_enqueue(n):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from celery_noop import noop  # noqa: E402
    start = time.time()
    for _ in range(n):
        noop.delay("Write one line about the sea.")
    print(f"{n / (time.time() - start):.0f}")


def celery(times_dir, n):
    deadline = time.time() + 600
    while time.time() < deadline:
        rows = []
        for name in os.listdir(times_dir):
            with open(os.path.join(times_dir, name)) as f:
                rows += [tuple(map(float, line.split())) for line in f if line.count(" ") == 1 and line.endswith("\n")]
        if len(rows) >= n:
            break
        time.sleep(0.2)
    else:
        sys.exit(f"celery ran {len(rows)} of {n} tasks within 600 s")
    span = max(r[1] for r in rows) - min(r[0] for r in rows)
    durations = [(r[1] - r[0]) * 1000 for r in rows]
    print(f"{len(rows) / span:.0f} {percentile(durations, 0.5):.2f} {percentile(durations, 0.99):.2f} {len(rows)} {len(rows)}")


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "submit":
        submit(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif command == "ours":
        ours(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif command == "celery-enqueue":
        celery_enqueue(int(sys.argv[2]))
    elif command == "celery":
        celery(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
