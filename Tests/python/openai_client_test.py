"""The real `openai` Python client (PyPI) through the gateway's AI proxy, against a
programmable OpenAI-compatible upstream (`fake_upstream.py`) — the one part that cannot run
here for real.

Run by scripts/test.sh: `python Tests/python/openai_client_test.py BINARY`. Every scenario
uses one gateway process on loopback with a YAML configuration naming the test upstream (and a
dead port), and exits non-zero on the first failure.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_upstream import Upstream  # noqa: E402
from harness import check, free_port  # noqa: E402

BINARY = os.path.abspath(sys.argv[1])
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
failures = 0


def expect(exception, call, message):
    try:
        call()
    except exception as e:
        print("ok:", message, "->", type(e).__name__)
        return e
    print("FAIL:", message, "(no", exception.__name__, ")")
    sys.exit(1)


class Gateway:
    def __init__(self, upstream, work, cache="exact", extra_providers="", extra_models="", extra=""):
        self.port = free_port()
        self.work = work
        os.makedirs(work, exist_ok=True)
        dead = free_port()
        config = os.path.join(work, "gateway.yaml")
        with open(config, "w") as f:
            f.write(f"""
ai-providers:
  - name: primary
    kind: openai
    base-url: "{upstream.base_url}"
    api-key-env: TEST_PRIMARY_KEY
  - name: backup
    kind: openai
    base-url: "{upstream.base_url}/"
  - name: dead
    kind: openai
    base-url: "http://127.0.0.1:{dead}/v1"
  - name: claude
    kind: anthropic
    base-url: "{upstream.base_url}"
    api-key-env: TEST_ANTHROPIC_KEY
{extra_providers}ai-models:
  - name: writer
    targets: ["primary/main", "backup/spare"]
  - name: solo
    targets: ["primary/solo"]
  - name: deadfirst
    targets: ["dead/x", "backup/alive"]
  - name: breaker
    targets: ["primary/brk", "backup/brk-spare"]
  - name: embedder
    targets: ["primary/embed"]
  - name: cutter
    targets: ["primary/cutter"]
  - name: memo
    targets: ["primary/memo"]
  - name: memo2
    targets: ["primary/memo2"]
  - name: claude
    targets: ["claude/claude-test"]
  - name: claude-then-openai
    targets: ["claude/claude-busy", "primary/after-claude"]
{extra_models}ai-first-byte-timeout: 700ms
ai-idle-timeout: 700ms
ai-max-retry-wait: 1s
ai-breaker-failures: 4
ai-breaker-cooldown: 60s
ai-cache: {cache}
{extra}""")
        self.data = os.path.join(work, "data")
        env = dict(os.environ, TEST_PRIMARY_KEY="sk-upstream-secret", TEST_ANTHROPIC_KEY="sk-ant-secret")
        self.cli = lambda *a: subprocess.run([BINARY, *a, "--data-dir", self.data], check=True, capture_output=True, text=True,
                                             env=env).stdout.strip().splitlines()
        self.key = self.cli("keys", "create", "--tenant", "t1", "--role", "writer", "--rate", "100000/s", "--burst", "100000")[-1]
        self.other_tenant = self.cli("keys", "create", "--tenant", "t2", "--role", "reader", "--rate", "100000/s", "--burst", "100000")[-1]
        self.small_key = self.cli("keys", "create", "--tenant", "t1", "--role", "reader", "--rate", "100000/s", "--burst", "100000",
                                  "--tokens-per-minute", "3000")[-1]
        printed = subprocess.run([BINARY, "config", "print", "--config", config, "--data-dir", self.data], capture_output=True,
                                 text=True, env=env)
        self.printed = printed.stdout + printed.stderr
        self.log = open(os.path.join(work, "gateway.log"), "w")
        self.process = subprocess.Popen([BINARY, "serve", "--config", config, "--data-dir", self.data, "--port", str(self.port),
                                         "--loops", "2"], stdout=self.log, stderr=self.log, env=env)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1).read()
                return
            except Exception:
                if self.process.poll() is not None:
                    raise RuntimeError(open(os.path.join(work, "gateway.log")).read()[-3000:])
                time.sleep(0.05)
        raise RuntimeError("gateway did not start")

    def client(self, key=None, retries=0):
        return openai.OpenAI(base_url=f"http://127.0.0.1:{self.port}/v1", api_key=key or self.key, max_retries=retries, timeout=20)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def main():
    upstream = Upstream()
    work = tempfile.mkdtemp(prefix="aiproxy-test-")
    gateway = Gateway(upstream, work)
    try:
        run(upstream, gateway)
    finally:
        gateway.stop()
    try:
        run_shared_cache(upstream, tempfile.mkdtemp(prefix="aiproxy-redis-"))
        run_semantic(upstream, tempfile.mkdtemp(prefix="aiproxy-semantic-"))
    finally:
        upstream.stop()


def run_shared_cache(upstream, work):
    """Two replicas share the exact cache through a private Redis; without Redis, calls are misses."""
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    extra = f"redis-url: redis://127.0.0.1:{port}/0\nai-cache-store: redis\n"
    first = Gateway(upstream, os.path.join(work, "a"), extra=extra)
    # Another replica: its own database (a key of the same tenant, t1) and the same Redis.
    second = Gateway(upstream, os.path.join(work, "b"), extra=extra)
    try:
        upstream.reset()
        a, b = first.client(), second.client()
        ask = lambda c, content, **o: c.chat.completions.with_raw_response.create(
            model="memo", messages=[{"role": "user", "content": content}], temperature=0, **o)
        one = ask(a, "shared")
        two = ask(b, "shared")
        check(one.headers["x-aiwriter-cache"] == "miss" and two.headers["x-aiwriter-cache"] == "hit" and upstream.count("memo") == 1
              and two.parse().choices[0].message.content == one.parse().choices[0].message.content,
              f"a replica answers from the answer another kept in Redis ({two.headers['x-aiwriter-cache']}, {upstream.count('memo')} calls)")
        streams = [list(c.chat.completions.create(model="memo", messages=[{"role": "user", "content": "shared stream"}], temperature=0,
                                                  stream=True)) for c in (a, b)]
        check(upstream.count("memo") == 2 and [x.model_dump() for x in streams[0]] == [x.model_dump() for x in streams[1]],
              "a stream kept by one replica is replayed chunk for chunk by the other")
        embedded = [c.embeddings.with_raw_response.create(model="embedder", input=["shared text"]) for c in (a, b)]
        check([e.headers["x-aiwriter-cache"] for e in embedded] == ["miss", "hit"] and embedded[1].parse().data[0].embedding
              == embedded[0].parse().data[0].embedding, "embeddings are shared too (and still decode)")
        redis.terminate()
        redis.wait(timeout=10)
        down = ask(b, "shared")
        check(down.headers["x-aiwriter-cache"] == "miss" and upstream.count("memo") == 3, "with Redis down the cache is a miss, the call succeeds")
    finally:
        first.stop()
        second.stop()
        if redis.poll() is None:
            redis.terminate()


def find_minilm():
    """minilm.py: $AIWRITER_MINILM, else shared/tools/minilm.py beside the checkout or any folder above it."""
    if os.environ.get("AIWRITER_MINILM"):
        return os.environ["AIWRITER_MINILM"]
    here = os.path.dirname(os.path.abspath(__file__))
    while True:
        candidate = os.path.join(here, "shared", "tools", "minilm.py")
        if os.path.exists(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/tools/minilm.py")
        here = parent


MINILM = find_minilm()


def run_semantic(upstream, work):
    """The semantic cache with real all-MiniLM-L6-v2 embeddings served by minilm.py."""
    if not os.path.exists(MINILM):
        print(f"semantic cache: SKIPPED, {MINILM} not found (set AIWRITER_MINILM)", file=sys.stderr)
        return
    port = free_port()
    minilm = subprocess.Popen([sys.executable, MINILM, "--serve", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if minilm.poll() is not None:
                raise RuntimeError(minilm.stderr.read().decode()[-2000:])
            time.sleep(0.1)
    gateway = Gateway(upstream, work, cache="semantic",
                      extra_providers=f"  - name: minilm\n    kind: openai\n    base-url: \"http://127.0.0.1:{port}/v1\"\n",
                      extra_models="  - name: minilm\n    targets: [\"minilm/all-MiniLM-L6-v2\"]\n"
                                   "  - name: sem\n    targets: [\"primary/sem\"]\n",
                      extra="ai-semantic-model: minilm\n")
    try:
        client = gateway.client()
        system = {"role": "system", "content": "You write for a food blog."}

        def ask(prompt, system=system, **options):
            reply = client.chat.completions.with_raw_response.create(
                model="sem", messages=[system, {"role": "user", "content": prompt}], temperature=0, **options)
            return reply.headers["x-aiwriter-cache"], reply
        first, a = ask("Write a blog post about healthy breakfast ideas")
        second, b = ask("Compose a blog post on healthy breakfast ideas, please.")
        check(first == "miss" and second == "semantic" and upstream.count("sem") == 1
              and b.parse().choices[0].message.content == a.parse().choices[0].message.content,
              f"a paraphrase is answered from the semantic cache ({first}, {second}, {upstream.count('sem')} calls)")
        negated, _ = ask("Write a blog post about unhealthy breakfast ideas")
        check(negated == "miss" and upstream.count("sem") == 2, f"a negated prompt is not a hit ({negated})")
        longer, _ = ask("Write a blog post about healthy breakfast ideas in 300 words")
        check(longer == "miss" and upstream.count("sem") == 3, f"a prompt asking another length is not a hit ({longer})")
        other, _ = ask("Compose a blog post on healthy breakfast ideas", system={"role": "system", "content": "You write for a sports blog."})
        check(other == "miss" and upstream.count("sem") == 4, "another system prompt is another scope")
        warm = client.chat.completions.with_raw_response.create(
            model="sem", messages=[system, {"role": "user", "content": "Compose a blog post on healthy breakfast ideas"}], temperature=0.8)
        check(warm.headers["x-aiwriter-cache"] == "bypass" and upstream.count("sem") == 5, "a non-deterministic request bypasses both caches")
        streamed = [list(client.chat.completions.create(model="sem", messages=[system, {"role": "user", "content": p}], temperature=0, stream=True))
                    for p in ["Write a poem about the sea", "Compose a poem on the ocean"]]
        check(upstream.count("sem") == 6 and [c.model_dump() for c in streamed[0]] == [c.model_dump() for c in streamed[1]],
              "a streamed answer is replayed to a paraphrase as its chunks")
        # The embedding upstream dies: calls still succeed, as misses.
        minilm.terminate()
        minilm.wait(timeout=10)
        dead, reply = ask("Write a blog post about lunch ideas")
        check(dead == "miss" and upstream.count("sem") == 7 and reply.parse().choices[0].message.content,
              f"without embeddings the call goes upstream ({dead})")
    finally:
        gateway.stop()
        if minilm.poll() is None:
            minilm.terminate()


def run(upstream, gateway):
    client = gateway.client()
    check("sk-upstream-secret" not in gateway.printed and "ai-providers" in gateway.printed,
          "config print shows the providers and never the upstream key")

    # Plain chat: the client's fields pass through, only the model is replaced.
    reply = client.chat.completions.with_raw_response.create(
        model="writer", messages=[{"role": "user", "content": "hi"}], temperature=0.3, extra_body={"custom_field": {"a": [1, 2.50]}})
    completion = reply.parse()
    check(completion.choices[0].message.content == "echo main" and completion.usage.total_tokens > 0, "plain chat through the first target")
    check(reply.headers.get("x-aiwriter-target") == "primary/main" and reply.headers.get("x-aiwriter-cache") == "bypass",
          "X-AIWriter-Target and X-AIWriter-Cache on the answer")
    sent = upstream.requests[-1]
    check(sent["body"]["model"] == "main" and sent["body"]["custom_field"] == {"a": [1, 2.5]} and sent["body"]["temperature"] == 0.3,
          "unknown fields pass through untouched; the upstream model replaces the alias")
    check(sent["headers"].get("Authorization") == "Bearer sk-upstream-secret", "the provider's key goes upstream, not the client's")

    # Streaming: chunks pass through, usage is asked for upstream and dropped unless the client asked.
    upstream.reset()
    chunks = list(client.chat.completions.create(model="writer", messages=[{"role": "user", "content": "tell"}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    check(text == "Once upon a time.", f"streamed text intact ({text!r})")
    check(all(c.choices for c in chunks), "no choices:[] usage chunk the client did not ask for")
    check(upstream.requests[-1]["body"].get("stream_options") == {"include_usage": True}, "the proxy asked the upstream for usage")
    chunks = list(client.chat.completions.create(model="writer", messages=[{"role": "user", "content": "tell"}], stream=True,
                                                 stream_options={"include_usage": True}))
    check(chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 12 and chunks[-1].choices == [],
          "include_usage: the final usage chunk reaches the client")

    # Errors in OpenAI's shape, mapped to the client's classes.
    expect(openai.NotFoundError, lambda: client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}]),
           "unknown model: 404")
    e = expect(openai.NotFoundError, lambda: client.models.retrieve("nope"), "unknown model id: 404")
    check(e.code == "model_not_found", "code model_not_found")
    expect(openai.BadRequestError, lambda: client.chat.completions.create(model="writer", messages=[]), "empty messages: 400")
    expect(openai.BadRequestError, lambda: client.chat.completions.create(model="writer", messages=[{"role": "user", "content": "x"}],
                                                                           stream_options={"include_usage": True}),
           "stream_options without stream: 400")
    expect(openai.AuthenticationError, lambda: gateway.client(key="aiw_bad").models.list(), "a bad key: 401")
    raw = urllib.request.Request(f"http://127.0.0.1:{gateway.port}/v1/chat/completions", data=b'{"model": "writer", "messages": [',
                                 headers={"Authorization": "Bearer " + gateway.key, "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(raw)
        check(False, "broken JSON refused")
    except urllib.error.HTTPError as err:
        body = json.loads(err.read())
        check(err.code == 400 and body["error"]["type"] == "invalid_request_error", "broken JSON: 400 in OpenAI's shape")

    # Models.
    ids = [m.id for m in client.models.list().data]
    check(ids == ["writer", "solo", "deadfirst", "breaker", "embedder", "cutter", "memo", "memo2", "claude", "claude-then-openai"], f"models listed ({ids})")
    check(client.models.retrieve("solo").id == "solo", "a model by id")

    # Embeddings: the client's default base64 and explicit floats.
    vectors = client.embeddings.create(model="embedder", input=["alpha", "beta"])
    check(len(vectors.data) == 2 and len(vectors.data[0].embedding) == 8 and isinstance(vectors.data[0].embedding[0], float),
          "embeddings in base64 (the client's default), decoded by the client")
    floats = client.embeddings.create(model="embedder", input="alpha", encoding_format="float")
    check(abs(floats.data[0].embedding[0] - vectors.data[0].embedding[0]) < 1e-6, "embeddings as floats agree with base64")

    # Fallbacks: 5xx, 429 and a dead host move to the next target before the first byte.
    upstream.reset()
    upstream.plan("main", ("status", 500, {}, {"error": {"message": "boom", "type": "server_error"}}))
    reply = client.chat.completions.with_raw_response.create(model="writer", messages=[{"role": "user", "content": "x"}])
    check(reply.parse().choices[0].message.content == "echo spare" and reply.headers["x-aiwriter-target"] == "backup/spare",
          "a 500 falls back to the next target")
    upstream.plan("main", ("status", 429, {"retry-after": "30"}, {"error": {"message": "slow down", "type": "requests"}}))
    check(client.chat.completions.create(model="writer", messages=[{"role": "user", "content": "x"}]).choices[0].message.content == "echo spare",
          "a 429 falls back to the next target")
    check(client.chat.completions.create(model="deadfirst", messages=[{"role": "user", "content": "x"}]).choices[0].message.content == "echo alive",
          "a dead host falls back to the next target")

    # The last target: a short Retry-After is waited out and retried; a long one is passed on.
    upstream.reset()
    upstream.plan("solo", ("status", 429, {"retry-after-ms": "200"}, {"error": {"message": "wait", "type": "requests"}}))
    started = time.time()
    answer = client.chat.completions.create(model="solo", messages=[{"role": "user", "content": "x"}])
    check(answer.choices[0].message.content == "echo solo" and upstream.count("solo") == 2 and time.time() - started >= 0.2,
          "a short Retry-After on the last target is waited out and retried")
    upstream.plan("solo", *[("status", 429, {"retry-after": "90"}, {"error": {"message": "quota", "type": "requests", "code": "rate_limit_exceeded"}})] * 3)
    e = expect(openai.RateLimitError, lambda: client.chat.completions.create(model="solo", messages=[{"role": "user", "content": "x"}]),
               "a long Retry-After is not waited out: 429 to the client")
    check(e.response.headers.get("retry-after") == "90", "the upstream's Retry-After reaches the client")

    # First-byte timeout: a silent first target is abandoned for the next.
    upstream.reset()
    upstream.plan("main", ("delay", 3))
    started = time.time()
    answer = client.chat.completions.create(model="writer", messages=[{"role": "user", "content": "x"}])
    elapsed = time.time() - started
    check(answer.choices[0].message.content == "echo spare" and elapsed < 2.5, f"first-byte timeout moves on ({elapsed:.2f} s)")
    upstream.plan("solo", ("delay", 3))
    expect(openai.InternalServerError, lambda: client.chat.completions.create(model="solo", messages=[{"role": "user", "content": "x"}]),
           "a silent last target: 504")

    # Mid-stream cut and stall: never a silent clean end. (Each failure counts against the
    # target's circuit; a fresh model keeps "solo"'s out of it.)
    for action, name in ((("cut", 2), "a stream cut mid-way"), (("stall", 2, 3), "a stream that stalls"),
                         (("nodone", 2), "a stream that ends without [DONE]")):
        upstream.reset()
        upstream.plan("cutter", action)
        seen = []

        def consume():
            for c in client.chat.completions.create(model="cutter", messages=[{"role": "user", "content": "x"}], stream=True):
                seen.append(c)
        expect(openai.APIError, consume, f"{name} ends with an error event")
        check(len(seen) >= 2, f"{name}: the chunks before the failure arrived ({len(seen)})")

    # A failing stream before its first byte still falls back.
    upstream.reset()
    upstream.plan("main", ("status", 503, {}, {"error": {"message": "down", "type": "server_error"}}))
    chunks = list(client.chat.completions.create(model="writer", messages=[{"role": "user", "content": "x"}], stream=True))
    check("".join(c.choices[0].delta.content or "" for c in chunks) == "Once upon a time.", "a stream falls back before its first byte")

    # Circuit breaker: after four failures the first target is skipped without a call.
    upstream.reset()
    upstream.plan("brk", *[("status", 500, {}, {"error": {"message": "x", "type": "server_error"}})] * 20)
    for _ in range(12):
        client.chat.completions.create(model="breaker", messages=[{"role": "user", "content": "x"}])
    # Two loops keep a breaker each: at most four failures per loop reach the dead target.
    check(upstream.count("brk") <= 8 and upstream.count("brk") >= 4 and upstream.count("brk-spare") == 12,
          f"an open circuit skips the failing target ({upstream.count('brk')} calls to it for 12 requests)")

    # The exact cache: deterministic requests are answered again without an upstream call ("memo"
    # has a circuit of its own: the earlier failures opened "main"'s on some loops).
    upstream.reset()
    ask = dict(model="memo", messages=[{"role": "user", "content": "cache me"}], temperature=0)
    first = client.chat.completions.with_raw_response.create(**ask)
    again = client.chat.completions.with_raw_response.create(**dict(ask, temperature=0.0, user="someone-else"))
    check(first.headers["x-aiwriter-cache"] == "miss" and again.headers["x-aiwriter-cache"] == "hit" and upstream.count("memo") == 1,
          f"temperature 0: the second call (0.0, another user) is a hit without an upstream call "
          f"({first.headers['x-aiwriter-cache']}, {again.headers['x-aiwriter-cache']}, {upstream.count('memo')} calls)")
    check(again.parse().choices[0].message.content == first.parse().choices[0].message.content, "the hit is the same answer")
    other = gateway.client(key=gateway.other_tenant).chat.completions.with_raw_response.create(**ask)
    check(other.headers["x-aiwriter-cache"] == "miss" and upstream.count("memo") == 2, "another tenant never sees the cached answer")
    warm = client.chat.completions.with_raw_response.create(model="memo", messages=[{"role": "user", "content": "cache me"}], temperature=0.7)
    check(warm.headers["x-aiwriter-cache"] == "bypass" and upstream.count("memo") == 3, "temperature 0.7: bypass")
    seeded = [client.chat.completions.with_raw_response.create(model="memo", messages=[{"role": "user", "content": "s"}], seed=7)
              for _ in range(2)]
    check([r.headers["x-aiwriter-cache"] for r in seeded] == ["miss", "hit"], "a seed makes a request cacheable")
    streamed = [list(client.chat.completions.create(model="memo", messages=[{"role": "user", "content": "st"}], temperature=0, stream=True))
                for _ in range(2)]
    check(upstream.count("memo") == 5 and [c.model_dump() for c in streamed[0]] == [c.model_dump() for c in streamed[1]]
          and all(c.choices for c in streamed[1]),
          "a stream is replayed as its exact chunks (without the usage chunk nobody asked for)")
    with_usage = list(client.chat.completions.create(model="memo", messages=[{"role": "user", "content": "st"}], temperature=0, stream=True,
                                                     stream_options={"include_usage": True}))
    check(upstream.count("memo") == 5 and with_usage[-1].usage is not None, "the replayed stream carries usage to a client that asks")
    upstream.plan("memo2", ("length",))
    for _ in range(2):
        client.chat.completions.create(model="memo2", messages=[{"role": "user", "content": "long"}], temperature=0)
    check(upstream.count("memo2") == 2, "an answer cut at its token ceiling is not cached")
    upstream.plan("memo2", ("status", 400, {}, {"error": {"message": "bad", "type": "invalid_request_error"}}))
    expect(openai.BadRequestError, lambda: client.chat.completions.create(model="memo2", messages=[{"role": "user", "content": "e"}], temperature=0),
           "an upstream 400 passes through")
    client.chat.completions.create(model="memo2", messages=[{"role": "user", "content": "e"}], temperature=0)
    check(upstream.count("memo2") == 4, "an error is not cached")
    client.embeddings.create(model="embedder", input=["cached text"])
    hit = client.embeddings.with_raw_response.create(model="embedder", input=["cached text"])
    check(hit.headers["x-aiwriter-cache"] == "hit" and upstream.count("embed") == 1 and len(hit.parse().data[0].embedding) == 8,
          "embeddings are cached (and still decode)")
    floats = client.embeddings.with_raw_response.create(model="embedder", input=["cached text"], encoding_format="float")
    check(floats.headers["x-aiwriter-cache"] == "miss", "encoding_format is part of the key")
    forced = client.chat.completions.with_raw_response.create(model="writer", messages=[{"role": "user", "content": "f"}], temperature=1,
                                                              extra_headers={"X-AIWriter-Cache": "use"})
    check(forced.headers["x-aiwriter-cache"] == "miss", "X-AIWriter-Cache: use opts a request in")

    # Anthropic targets: chat translated to the Messages API and back, streamed and not.
    upstream.reset()
    reply = client.chat.completions.with_raw_response.create(
        model="claude", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], max_tokens=50,
        temperature=1.5, stop="END", user="u-1")
    sent = upstream.requests[-1]
    completion = reply.parse()
    check(sent["path"] == "/v1/messages" and sent["headers"].get("x-api-key") == "sk-ant-secret"
          and sent["headers"].get("anthropic-version") == "2023-06-01" and "Authorization" not in sent["headers"],
          "an Anthropic target is called at /messages with x-api-key and anthropic-version")
    check(sent["body"]["system"] == "Be brief." and sent["body"]["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
          and sent["body"]["max_tokens"] == 50 and sent["body"]["temperature"] == 1 and sent["body"]["stop_sequences"] == ["END"]
          and sent["body"]["metadata"] == {"user_id": "u-1"} and sent["body"]["model"] == "claude-test",
          f"the request is translated (system, max_tokens, temperature clamped, stop, user): {sent['body']}")
    check(completion.choices[0].message.content == "echo claude-test" and completion.choices[0].finish_reason == "stop"
          and completion.usage.prompt_tokens >= 3 and completion.usage.completion_tokens == 5
          and completion.usage.prompt_tokens_details.cached_tokens == 2,
          f"the answer is an OpenAI chat completion with usage ({completion})")
    chunks = list(client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "Hi"}], stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    check(text == "Once upon a time." and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
          and [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop",
          f"an Anthropic stream becomes OpenAI chunks, usage last ({text!r})")
    tools = [{"type": "function", "function": {"name": "weather", "description": "d", "parameters": {"type": "object"}}}]
    called = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "Weather?"}], tools=tools, tool_choice="required")
    sent = upstream.requests[-1]["body"]
    check(sent["tools"] == [{"name": "weather", "description": "d", "input_schema": {"type": "object"}}] and sent["tool_choice"] == {"type": "any"},
          "tools and tool_choice are translated")
    call = called.choices[0].message.tool_calls[0]
    check(called.choices[0].finish_reason == "tool_calls" and call.function.name == "weather" and json.loads(call.function.arguments) == {"city": "Paris"},
          "a tool_use block comes back as a tool call")
    streamed_call = list(client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "Weather?"}], tools=tools, stream=True))
    arguments = "".join(tc.function.arguments or "" for c in streamed_call if c.choices for tc in (c.choices[0].delta.tool_calls or []))
    check(json.loads(arguments) == {"city": "Paris"}, f"a streamed tool call's arguments arrive in fragments ({arguments!r})")
    client.chat.completions.create(model="claude", messages=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}])
    sent = upstream.requests[-1]["body"]["messages"]
    check(sent[1] == {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}]}
          and sent[2] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
          f"tool calls and results are translated to tool_use and tool_result blocks ({sent})")
    expect(openai.BadRequestError, lambda: client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}], n=2),
           "n > 1 for an Anthropic-only model is 400")
    upstream.plan("claude-busy", ("status", 529, {}, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    moved = client.chat.completions.with_raw_response.create(model="claude-then-openai", messages=[{"role": "user", "content": "x"}])
    check(moved.headers["x-aiwriter-target"] == "primary/after-claude", "an overloaded Anthropic target (529) falls back to the next")
    upstream.plan("claude-test", ("status", 400, {}, {"type": "error", "error": {"type": "invalid_request_error", "message": "bad thing"}}))
    try:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}])
        check(False, "an Anthropic 400 is raised")
    except openai.BadRequestError as err:
        check(err.body["message"] == "bad thing" and err.body["type"] == "invalid_request_error", f"an Anthropic error is OpenAI-shaped ({err.body})")
    upstream.plan("claude-test", ("error", 2))
    try:
        list(client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}], stream=True))
        check(False, "an Anthropic error event is raised")
    except openai.APIError as err:
        check("Overloaded" in str(err), f"an Anthropic stream's error event reaches the client as an error ({err})")
    upstream.plan("claude-test", ("cut", 2))
    try:
        list(client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}], stream=True))
        check(False, "a cut Anthropic stream is raised")
    except openai.APIError:
        check(True, "a cut Anthropic stream ends with an error, not a clean end")

    # Token budget: parallel requests cannot overrun a small budget.
    # The upstream holds each call 0.6 s, so all twelve are in flight at once: each reserves
    # its worst case (~530 tokens) before it is sent, so at most five fit in 3,000.
    upstream.reset()
    upstream.plan("memo", *[("delay", 0.6)] * 12)
    small = gateway.client(key=gateway.small_key)
    small.models.list()  # connected before the race starts
    outcomes = []
    start = threading.Barrier(12)

    def one():
        start.wait()
        try:
            small.chat.completions.create(model="memo", messages=[{"role": "user", "content": "x"}], max_tokens=500)
            outcomes.append("ok")
        except openai.RateLimitError as err:
            outcomes.append(("429", err.response.headers.get("x-should-retry")))
    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    admitted = outcomes.count("ok")
    check(admitted <= 5 and admitted >= 1 and upstream.count("memo") == admitted,
          f"12 parallel calls of ~500 tokens against 3000/min: {admitted} admitted, the rest 429")
    check(all(o == ("429", "false") for o in outcomes if o != "ok"), "budget refusals say x-should-retry: false")

    # Usage rows: one per call, summarised by key, model and day (written within half a second).
    time.sleep(1.2)

    def usage(key, query=""):
        request = urllib.request.Request(f"http://127.0.0.1:{gateway.port}/v1/usage{query}", headers={"Authorization": "Bearer " + key})
        return json.loads(urllib.request.urlopen(request).read())
    mine = {row["model"]: row for row in usage(gateway.key)["data"]}
    check(mine["memo"]["cache_hits"] >= 3 and mine["memo"]["requests"] >= 8, f"usage counts the memo calls and their cache hits ({mine['memo']})")
    check(mine["solo"]["errors"] >= 2 and mine["writer"]["prompt_tokens"] > 0 and mine["writer"]["completion_tokens"] > 0,
          "usage counts errors and the tokens the upstream reported")
    budgeted = usage(gateway.small_key)["data"]
    check(len(budgeted) == 1 and budgeted[0]["requests"] == 12 and budgeted[0]["errors"] == 12 - admitted,
          f"the small key sees only its own calls, refusals counted as errors ({budgeted})")
    try:
        usage(gateway.key, "?since=2026-02-30")
        check(False, "a bad date is refused")
    except urllib.error.HTTPError as err:
        check(err.code == 400, "a bad date is refused with 400")


if __name__ == "__main__":
    main()
