"""The scale-out proof: faults under load on replicas behind HAProxy (see README.md here).

    scale.py [--short] [--replicas N] [--only a,b] [--keep] BINARY LOADTEST
    scale.py --capacity [--short] BINARY LOADTEST    # capacity for 1..N replicas and CPU per request

Builds its hosts, runs, prints a summary line per fault, cleans up everything it made, and exits
non-zero when any fault did not show what it must.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab import Lab  # noqa: E402
from stack import Stack  # noqa: E402
import capacity  # noqa: E402
import faults  # noqa: E402
from traffic import DIMENSION, call, call_full, etag_parts  # noqa: E402


def prepare(stack, work):
    """Keys, a collection, documents to read, and the mix scenario that reads them."""
    admin = stack.cli("keys", "create", "--tenant", "scale", "--role", "admin", "--rate", "100000/s", "--burst", "100000")
    writer = stack.cli("keys", "create", "--tenant", "scale", "--role", "writer", "--rate", "100000/s", "--burst", "100000")
    reader = stack.cli("keys", "create", "--tenant", "scale", "--role", "reader", "--rate", "100000/s", "--burst", "100000")

    def create(rate, burst):
        status, body = call(stack.lb.ip, "POST", "/v1/admin/keys", admin,
                                   {"name": "limit", "role": "reader", "rate": rate, "burst": burst})
        assert status == 201, (status, body)
        made = json.loads(body)
        return made["id"], made["secret"]

    status, body = call(stack.lb.ip, "POST", "/v1/collections", writer, {"name": "scale", "dimension": DIMENSION, "metric": "cosine"})
    assert status == 201, (status, body)
    with open(os.path.join(work, "keys.txt"), "w") as f:
        f.write(reader + "\n")
    ids = []
    for n in range(50):
        status, headers, _ = call_full(stack.lb.ip, "POST", "/v1/documents", writer,
                                              {"title": f"read {n}", "content": f"a document to read, number {n} " * 20})
        assert status == 201, status
        ids.append(etag_parts(headers["etag"])[0])
    with open(os.path.join(work, "docs.txt"), "w") as f:
        f.write("\n".join(ids) + "\n")
    scenario = os.path.join(work, "mix.yaml")
    with open(scenario, "w") as f:
        f.write(MIX)
    return {"admin": admin, "writer": writer, "reader": reader, "create": create}, scenario


# The product mix's reads (writes come from the writers, which log what was acknowledged):
# key checks, document reads, collection queries, AI calls to the test upstream.
MIX = """requests:
  - name: key-check
    weight: 3
    url: /v1/whoami
    headers: {Authorization: "Bearer {{line:keys.txt}}"}
  - name: document-read
    weight: 4
    url: /v1/documents/{{line:docs.txt}}
    headers: {Authorization: "Bearer {{line:keys.txt}}"}
  - name: collection-query
    weight: 2
    method: POST
    url: /v1/collections/scale/query
    headers: {Authorization: "Bearer {{line:keys.txt}}", Content-Type: application/json}
    body: '{"vector": [{{choice:0.1|0.5|-0.3}}, 0.2, -0.4, 0.8, 0.1, {{choice:0.9|-0.9}}, 0.3, -0.2], "k": 5}'
  - name: ai-call
    weight: 1
    method: POST
    url: /v1/chat/completions
    headers: {Authorization: "Bearer {{line:keys.txt}}", Content-Type: application/json}
    body: '{"model": "writer", "messages": [{"role": "user", "content": "Say hello."}]}'
"""


def with_stack(args, body):
    work = tempfile.mkdtemp(prefix="aiw-scale.")
    os.chmod(work, 0o755)
    lab = Lab(work)
    ok = False
    try:
        stack = Stack(lab, os.path.abspath(args.binary), args.replicas)
        stack.start()
        keys, scenario = prepare(stack, work)
        ok = body(stack, keys, scenario, work)
    finally:
        lab.close()
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}", flush=True)
    return ok


def run_faults(args):
    names = args.only.split(",") if args.only else list(faults.FAULTS)
    unknown = [n for n in names if n not in faults.FAULTS]
    if unknown:
        sys.exit(f"unknown faults {unknown}; known: {', '.join(faults.FAULTS)}")

    def body(stack, keys, scenario, work):
        context = faults.Context(stack, os.path.abspath(args.loadtest), keys, scenario, work, 1.0 if args.short else 3.0)
        results = []
        for name in names:
            started = time.monotonic()
            try:
                result = faults.FAULTS[name](context)
            except Exception as error:  # a fault that could not even be run is a failure, said so
                result = faults.Result(name, "(did not finish)")
                result.problems.append(f"{type(error).__name__}: {error}")
            result.figures["took_s"] = round(time.monotonic() - started, 1)
            print(result.line(), flush=True)
            results.append(result)
        passed = sum(r.passed for r in results)
        print(f"scale-out: {passed} of {len(results)} faults showed what they must; "
              f"lost acknowledged writes: {sum(len(r.lost) for r in results)}", flush=True)
        return passed == len(results)

    return with_stack(args, body)


def run_capacity(args):
    def body(stack, keys, scenario, work):
        context = faults.Context(stack, os.path.abspath(args.loadtest), keys, scenario, work, 1.0)
        capacity.plan(context, args.replicas, args.short)
        return True

    return with_stack(args, body)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary")
    parser.add_argument("loadtest")
    parser.add_argument("--short", action="store_true", help="the CI mode: each fault briefly")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--only", help="comma-separated faults to run")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs) even when it passes")
    parser.add_argument("--capacity", action="store_true", help="measure capacity for 1..N replicas instead of faults")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("deploy/scale needs root: it makes network namespaces, a bridge and veth pairs")
    sys.exit(0 if (run_capacity(args) if args.capacity else run_faults(args)) else 1)


if __name__ == "__main__":
    main()
