"""Clients of the scale-out harness: writers that keep their own log of acknowledged writes, the
check of that log row by row against the primary, and bounded loadtest runs of the read mix.

A writer counts a write as acknowledged only on a 2xx answer it read whole. A write whose answer
was lost may or may not have happened (both are allowed); an acknowledged one must be in the
database afterwards, with exactly the bytes the writer sent: every document version the writer
saw acknowledged is looked up in `document_versions`, every acknowledged collection record in
`records`.
"""
import hashlib
import http.client
import json
import random
import subprocess
import threading
import time

REQUEST_TIMEOUT = 15  # seconds; no request may hang past it (the gateway's own bound is lower)
DIMENSION = 8


class Tally:
    """What the clients saw, by outcome; `failed` names every non-2xx status or client error."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.ok = 0
        self.failed = {}
        self.unavailable_without_retry_after = 0
        self.slowest = 0.0

    def record(self, outcome, seconds, retry_after=True):
        with self.lock:
            self.sent += 1
            self.slowest = max(self.slowest, seconds)
            if outcome == "ok":
                self.ok += 1
            else:
                self.failed[outcome] = self.failed.get(outcome, 0) + 1
                if outcome == "503" and not retry_after:
                    self.unavailable_without_retry_after += 1

    @property
    def failures(self):
        return sum(self.failed.values())


class AckLog:
    def __init__(self):
        self.lock = threading.Lock()
        self.versions = []   # (document id, version, sha256 of the body)
        self.records = []    # (collection, external id, document text)

    def document(self, doc_id, version, body):
        with self.lock:
            self.versions.append((doc_id, version, hashlib.sha256(body.encode()).hexdigest()))

    def record(self, collection, external_id, text):
        with self.lock:
            self.records.append((collection, external_id, text))


def etag_parts(etag):
    """`"7-2"` → ("7", 2): a document's id and version."""
    doc_id, version = etag.strip('"').rsplit("-", 1)
    return doc_id, int(version)


def vector(rng):
    return [round(rng.uniform(-1, 1), 4) for _ in range(DIMENSION)]


class Writer(threading.Thread):
    """One client connection through the balancer: creates documents, replaces its own (If-Match)
    and upserts records with ids of its own, as fast as answers come back."""

    def __init__(self, number, host, port, key, collection, tally, acks, stop):
        super().__init__(daemon=True)
        self.number, self.host, self.port, self.key = number, host, port, key
        self.collection, self.tally, self.acks, self.stop = collection, tally, acks, stop
        self.rng = random.Random(number)
        self.connection = None
        self.documents = {}  # id -> current ETag
        self.sequence = 0

    def call(self, method, path, body, headers=None):
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        payload = json.dumps(body).encode()
        all_headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json", **(headers or {})}
        started = time.monotonic()
        try:
            self.connection.request(method, path, payload, all_headers)
            response = self.connection.getresponse()
            data = response.read()
            if response.getheader("Connection", "").lower() == "close":
                self.connection.close()
                self.connection = None
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            self.connection = None
            self.tally.record(type(error).__name__, time.monotonic() - started)
            return None, None, None
        seconds = time.monotonic() - started
        ok = 200 <= response.status < 300
        self.tally.record("ok" if ok else str(response.status), seconds, response.getheader("Retry-After") is not None)
        return response.status, response, data

    def run(self):
        while not self.stop.is_set():
            self.sequence += 1
            choice = self.rng.random()
            if choice < 0.4 or not self.documents:
                self.create()
            elif choice < 0.7:
                self.replace()
            else:
                self.upsert()

    def create(self):
        body = f"writer {self.number} document {self.sequence} {self.rng.random()}"
        status, response, data = self.call("POST", "/v1/documents", {"title": f"w{self.number}", "content": body})
        if status == 201:
            etag = response.getheader("ETag")
            doc_id, version = etag_parts(etag)
            self.documents[doc_id] = etag
            self.acks.document(doc_id, version, body)

    def replace(self):
        doc_id = self.rng.choice(list(self.documents))
        body = f"writer {self.number} version {self.sequence} {self.rng.random()}"
        status, response, data = self.call("PUT", f"/v1/documents/{doc_id}", {"title": f"w{self.number}", "content": body},
                                           {"If-Match": self.documents[doc_id]})
        if status == 200:
            etag = response.getheader("ETag")
            self.documents[doc_id] = etag
            self.acks.document(doc_id, etag_parts(etag)[1], body)
        elif status == 412 or status is None or status >= 500:
            # An answer lost after the write committed leaves our ETag stale: forget the document
            # rather than guess (its acknowledged versions are still checked).
            self.documents.pop(doc_id, None)

    def upsert(self):
        external_id = f"w{self.number}-{self.sequence}"
        text = f"record {external_id} {self.rng.random()}"
        record = {"id": external_id, "vector": vector(self.rng), "metadata": {"writer": self.number}, "document": text}
        status, _, _ = self.call("POST", f"/v1/collections/{self.collection}/records", {"records": [record]})
        if status == 200:
            self.acks.record(self.collection, external_id, text)


class Writers:
    def __init__(self, host, port, key, collection, count, acks):
        self.tally = Tally()
        self.stop = threading.Event()
        self.threads = [Writer(i, host, port, key, collection, self.tally, acks, self.stop) for i in range(count)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)
        hung = [t.number for t in self.threads if t.is_alive()]
        if hung:
            raise AssertionError(f"writers {hung} hung past the request timeout")


def check_acknowledged(stack, acks):
    """Every acknowledged write, row by row on the primary. Returns (checked, lost)."""
    with acks.lock:
        versions = list(acks.versions)
        records = list(acks.records)
    rows = stack.sql("SELECT document_id, version, encode(sha256(convert_to(body, 'UTF8')), 'hex') FROM document_versions")
    have = {(r[0], int(r[1])): r[2] for r in rows}
    lost = [v for v in versions if have.get((v[0], v[1])) != v[2]]
    rows = stack.sql("SELECT c.name, r.external_id, r.document FROM records r JOIN collections c ON c.id = r.collection_id")
    have_records = {(r[0], r[1]): r[2] for r in rows}
    lost += [r for r in records if have_records.get((r[0], r[1])) != r[2]]
    return len(versions) + len(records), lost


def loadtest(binary, url, scenario, seconds, rate, connections, out):
    """A bounded open-loop run of a scenario; returns its JSON report."""
    subprocess.run([binary, "run", "--url", url, "--scenario", scenario, "-d", f"{seconds}s", "-R", str(rate),
                    "-c", str(connections), "-t", "1", "--timeout", f"{REQUEST_TIMEOUT}s", "--json", out],
                   check=False, capture_output=True, text=True, timeout=seconds + REQUEST_TIMEOUT + 30)
    with open(out) as f:
        return json.load(f)


def start_loadtest(binary, url, scenario, seconds, rate, connections, out):
    """The same run in a background thread, so a fault can be injected during it."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("report", loadtest(binary, url, scenario, seconds, rate,
                                                                                   connections, out)), daemon=True)
    thread.start()
    return thread, result


def call_full(host, method, path, key, body=None, extra=None):
    connection = http.client.HTTPConnection(host, 8080, timeout=REQUEST_TIMEOUT)
    try:
        headers = {"Authorization": f"Bearer {key}", **(extra or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection.request(method, path, payload, headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    except (OSError, http.client.HTTPException):
        return None, {}, b""
    finally:
        connection.close()


def call(host, method, path, key, body=None):
    status, _, data = call_full(host, method, path, key, body)
    return status, data
