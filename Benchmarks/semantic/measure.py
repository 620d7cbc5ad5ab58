#!/usr/bin/env python3
"""The semantic cache's hit and false-hit rates on labeled prompt pairs, through the gateway.

For each pair of `pairs.tsv` (label same: the two want one answer; differ: they want different
answers) it asks the gateway for prompt a, then for prompt b, and reads b's X-AIWriter-Cache:
`semantic` is a hit. Every pair gets its own system prompt, so no pair can hit another's entry.
Embeddings are real all-MiniLM-L6-v2 (`../shared/tools/minilm.py --serve`); the chat upstream is
the tests' programmable one. Prints a line per kind and the totals, and the pairs that went wrong.

Usage: measure.py GATEWAY_BINARY [THRESHOLD ...]   (run by a Python with minilm's packages;
       PAIRS=heldout.tsv for the pairs written after the rules were fixed)
"""
import json, os, socket, subprocess, sys, tempfile, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "Tests", "python"))
from fake_upstream import Upstream  # noqa: E402

MINILM = os.environ.get("MINILM", os.path.join(ROOT, "..", "shared", "tools", "minilm.py"))


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait(url, process, log):
    for _ in range(600):
        try:
            urllib.request.urlopen(url, timeout=1).read(); return
        except Exception:
            if process.poll() is not None:
                raise RuntimeError(open(log).read()[-3000:])
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def run(binary, threshold, pairs, embed_port, upstream):
    work = tempfile.mkdtemp(prefix="semantic-")
    port = free_port()
    config = os.path.join(work, "gateway.yaml")
    with open(config, "w") as f:
        f.write(f"""
ai-providers:
  - name: chat
    kind: openai
    base-url: "{upstream.base_url}"
  - name: minilm
    kind: openai
    base-url: "http://127.0.0.1:{embed_port}/v1"
ai-models:
  - name: writer
    targets: ["chat/writer"]
  - name: minilm
    targets: ["minilm/all-MiniLM-L6-v2"]
ai-cache: semantic
ai-semantic-model: minilm
ai-semantic-threshold: {threshold}
""")
    data = os.path.join(work, "data")
    key = subprocess.run([binary, "keys", "create", "--tenant", "t", "--role", "writer", "--rate", "100000/s", "--burst", "100000",
                          "--data-dir", data], check=True, capture_output=True, text=True).stdout.split()[-1]
    log = os.path.join(work, "gateway.log")
    process = subprocess.Popen([binary, "serve", "--config", config, "--data-dir", data, "--port", str(port)],
                               stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        wait(f"http://127.0.0.1:{port}/healthz", process, log)

        def ask(system, prompt):
            body = json.dumps({"model": "writer", "temperature": 0,
                               "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}]}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body,
                                             {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as reply:
                reply.read()
                return reply.headers["X-AIWriter-Cache"]

        results = {}
        wrong = []
        for i, (label, kind, a, b) in enumerate(pairs):
            system = f"You are a writing assistant. (pair {i})"
            first = ask(system, a)
            second = ask(system, b)
            if first != "miss":
                raise RuntimeError(f"pair {i}: the first prompt was {first}, not a miss")
            hit = second == "semantic"
            total, hits = results.get((label, kind), (0, 0))
            results[(label, kind)] = (total + 1, hits + hit)
            if hit != (label == "same"):
                wrong.append((label, kind, a, b))
        return results, wrong
    finally:
        process.terminate(); process.wait(timeout=30)


def main():
    binary = sys.argv[1]
    thresholds = [float(t) for t in sys.argv[2:]] or [0.85]
    pairs = [line.rstrip("\n").split("\t") for line in open(os.path.join(HERE, os.environ.get("PAIRS", "pairs.tsv")))
             if line.strip() and not line.startswith("#")]
    embed_port = free_port()
    minilm = subprocess.Popen([sys.executable, MINILM, "--serve", str(embed_port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    upstream = Upstream()
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", embed_port), timeout=1).close(); break
            except OSError:
                if minilm.poll() is not None:
                    raise RuntimeError(minilm.stderr.read().decode()[-2000:])
                time.sleep(0.1)
        for threshold in thresholds:
            results, wrong = run(binary, threshold, pairs, embed_port, upstream)
            same = [v for (label, _), v in results.items() if label == "same"]
            differ = [v for (label, _), v in results.items() if label == "differ"]
            hits = sum(h for _, h in same); n_same = sum(t for t, _ in same)
            false = sum(h for _, h in differ); n_differ = sum(t for t, _ in differ)
            print(f"threshold {threshold}: paraphrase hits {hits}/{n_same} = {100 * hits / n_same:.1f} %, "
                  f"false hits {false}/{n_differ} = {100 * false / n_differ:.1f} %")
            for (label, kind), (total, h) in sorted(results.items()):
                print(f"  {label:6} {kind:10} {h:3}/{total:3} semantic hits")
            for label, kind, a, b in wrong:
                if label == "differ":
                    print(f"  FALSE HIT ({kind}): {a!r} -> {b!r}")
                elif os.environ.get("MISSES"):
                    print(f"  miss: {a!r} -> {b!r}")
    finally:
        minilm.terminate(); upstream.stop()


if __name__ == "__main__":
    main()
