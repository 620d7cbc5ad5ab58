"""The stack the scale-out harness runs on its test hosts, one service per host.

PostgreSQL primary (pg1) and a streaming hot standby (pg2, `pg_basebackup -R`), Redis, the
programmable OpenAI-compatible upstream (Tests/python/fake_upstream.py), N gateway replicas
(one loop each, PostgreSQL + read replica + Redis rate limits and caches, drain-delay longer
than HAProxy's fall time), one job worker, and HAProxy checking `/readyz`. The clients run in the
root namespace on the bridge. Every process is the lab's, so `Lab.close` stops it.
"""
import glob
import os
import socket
import time
import urllib.request

from lab import SUBNET, sh

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM = os.path.join(HERE, "..", "..", "Tests", "python", "fake_upstream.py")
# HAProxy's health checks: a replica is out after FALL failed checks INTER_MS apart; the
# gateways' drain-delay is longer than that, so HAProxy has stopped sending before they close.
INTER_MS, FALL, RISE = 500, 2, 2
DRAIN_DELAY_MS = 2_000


def wait_until(predicate, seconds, what, every=0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def http_status(url, timeout=2, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class Stack:
    def __init__(self, lab, binary, replicas):
        self.lab = lab
        self.binary = binary
        self.pg1 = lab.host("pg1", 11)
        self.pg2 = lab.host("pg2", 12)
        self.redis_host = lab.host("redis", 13)
        self.upstream_host = lab.host("up", 14)
        self.lb = lab.host("lb", 2)
        self.gateway_hosts = [lab.host(f"gw{i + 1}", 21 + i) for i in range(replicas)]
        self.worker_host = lab.host("worker", 30)
        self.database_url = f"postgres://postgres@{self.pg1.ip}:5432/aiwriter"
        self.replica_url = f"postgres://postgres@{self.pg2.ip}:5432/aiwriter"
        self.redis_url = f"redis://{self.redis_host.ip}:6379/0"
        self.url = f"http://{self.lb.ip}:8080"
        self.gateways = {}
        self.postgres = {}
        self.redis = None
        self.config = os.path.join(lab.work, "gateway.yaml")

    # -- PostgreSQL ---------------------------------------------------------------------------

    def pg_dir(self, host):
        return os.path.join(self.lab.work, host.name)

    def start_postgres(self, host, standby=False):
        data = self.pg_dir(host)
        settings = ["-c", f"listen_addresses={host.ip}", "-c", "port=5432", "-c", "unix_socket_directories=",
                    "-c", "max_connections=300", "-c", "shared_buffers=128MB"]
        if standby:
            settings += ["-c", "hot_standby=on"]
        self.postgres[host.name] = host.start([f"{PG_BIN}/postgres", "-D", data, *settings], f"{host.name}.log", user="postgres")
        wait_until(lambda: sh("pg_isready", "-q", "-h", host.ip, "-p", "5432", check=False).returncode == 0, 60,
                   f"PostgreSQL on {host.name}")

    def stop_postgres(self, host, mode="fast"):
        host.run(f"{PG_BIN}/pg_ctl", "-D", self.pg_dir(host), "-m", mode, "-w", "stop", user="postgres", check=False)
        self.postgres[host.name].wait(timeout=60)

    def start_database(self):
        primary = self.pg_dir(self.pg1)
        os.makedirs(primary)
        os.chown(primary, *postgres_ids())
        self.pg1.run(f"{PG_BIN}/initdb", "-D", primary, "-U", "postgres", "--auth=trust", "-E", "UTF8", user="postgres")
        with open(os.path.join(primary, "pg_hba.conf"), "a") as f:
            f.write(f"host all all {SUBNET}.0/24 trust\nhost replication all {SUBNET}.0/24 trust\n")
        self.start_postgres(self.pg1)
        sh("psql", f"postgres://postgres@{self.pg1.ip}:5432/postgres", "-qc", "CREATE DATABASE aiwriter")
        standby = self.pg_dir(self.pg2)
        os.makedirs(standby, mode=0o700)
        os.chown(standby, *postgres_ids())
        self.pg2.run(f"{PG_BIN}/pg_basebackup", "-h", self.pg1.ip, "-U", "postgres", "-D", standby, "-R", "-X", "stream",
                     "-c", "fast", user="postgres")
        self.start_postgres(self.pg2, standby=True)

    def sql(self, statement, url=None):
        out = sh("psql", url or self.database_url, "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", statement).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def set_standby_delay(self, delay):
        url = self.replica_url.replace("/aiwriter", "/postgres")
        # ALTER SYSTEM writes postgresql.auto.conf, which a hot standby accepts.
        sh("psql", url, "-qc", f"ALTER SYSTEM SET recovery_min_apply_delay = '{delay}'")
        sh("psql", url, "-qc", "SELECT pg_reload_conf()")

    # -- Redis and the upstream -----------------------------------------------------------------

    def start_redis(self):
        self.redis = self.redis_host.start(["redis-server", "--bind", self.redis_host.ip, "--port", "6379", "--save", "",
                                            "--appendonly", "no", "--protected-mode", "no"], "redis.log")
        wait_until(lambda: sh("redis-cli", "-h", self.redis_host.ip, "ping", check=False).stdout.strip() == "PONG", 30, "Redis")

    def kill_redis(self):
        self.redis.kill()
        self.redis.wait()

    def start_upstream(self):
        self.upstream_host.start(["python3", UPSTREAM, "9000", self.upstream_host.ip], "upstream.log")
        wait_until(lambda: socket.create_connection((self.upstream_host.ip, 9000), timeout=1).close() is None, 30, "the upstream")

    # -- gateways, worker, balancer ---------------------------------------------------------------

    def write_tls_material(self):
        """A self-signed certificate and the ticket key file every replica reads (three keys:
        the middle one seals, the newest is accepted before it seals, the oldest still resumes)."""
        self.tls_cert = os.path.join(self.lab.work, "tls.pem")
        self.tls_key = os.path.join(self.lab.work, "tls.key")
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
           "-subj", "/CN=aiwriter.test", "-keyout", self.tls_key, "-out", self.tls_cert)
        self.ticket_keys = os.path.join(self.lab.work, "tickets.keys")
        with open(self.ticket_keys, "w") as f:
            f.write("".join(os.urandom(80).hex() + "\n" for _ in range(3)))

    def rotate_ticket_keys(self):
        """One-step rotation, as an operator does it: a fresh key appended, the oldest dropped,
        the file replaced atomically (replicas notice within a second, each at its own time)."""
        with open(self.ticket_keys) as f:
            keys = [line for line in f.read().splitlines() if line.strip()]
        keys = keys[1:] + [os.urandom(80).hex()]
        temporary = self.ticket_keys + ".new"
        with open(temporary, "w") as f:
            f.write("".join(k + "\n" for k in keys))
        os.replace(temporary, self.ticket_keys)

    def write_config(self):
        with open(self.config, "w") as f:
            f.write(f"""database-url: "{self.database_url}"
tls-cert: "{self.tls_cert}"
tls-key: "{self.tls_key}"
tls-port: 8443
tls-ticket-key-file: "{self.ticket_keys}"
database-replica-url: "{self.replica_url}"
redis-url: "{self.redis_url}"
rate-limit-store: redis
rate-limit-on-redis-failure: open
trusted-proxies: "{self.lb.ip}"
drain-timeout: 10s
drain-delay: {DRAIN_DELAY_MS}ms
statement-timeout: 3s
database-connect-timeout: 2s
database-pool-size: 4
collection-follow-interval: 100ms
loops: 1
ai-providers:
  - name: up
    kind: openai
    base-url: "http://{self.upstream_host.ip}:9000/v1"
ai-models:
  - name: writer
    targets: ["up/writer"]
ai-cache: off
jobs-poll-interval: 100ms
""")

    def cli(self, *args):
        out = sh(self.binary, *args, "--config", self.config, "--data-dir", os.path.join(self.lab.work, "cli")).stdout
        return out.strip().splitlines()[-1]

    def start_gateway(self, host):
        data = os.path.join(self.lab.work, f"{host.name}-data")
        self.gateways[host.name] = host.start([self.binary, "serve", "--config", self.config, "--data-dir", data,
                                               "--host", host.ip, "--port", "8080", "--jobs-workers", "0"],
                                              f"{host.name}.log")
        wait_until(lambda: http_status(f"http://{host.ip}:8080/readyz") == 200, 60, f"{host.name} ready")

    def start_worker(self):
        data = os.path.join(self.lab.work, "worker-data")
        self.worker = self.worker_host.start([self.binary, "worker", "--config", self.config, "--data-dir", data,
                                              "--jobs-workers", "2"], "worker.log")

    def start_balancer(self):
        self.haproxy_socket = os.path.join(self.lab.work, "haproxy.sock")
        servers = "\n".join(f"    server {h.name} {h.ip}:8080 check" for h in self.gateway_hosts)
        tls_servers = "\n".join(f"    server {h.name} {h.ip}:8443 check" for h in self.gateway_hosts)
        config = os.path.join(self.lab.work, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(f"""global
    maxconn 8000
    stats socket {self.haproxy_socket} mode 600 level admin

defaults
    mode http
    option redispatch
    retries 3
    timeout connect 1s
    timeout http-request 10s
    # A client connection opened and not yet used (loadtest opens all of its connections at
    # once) would get an unsolicited 408 at http-request's timeout; close it silently instead.
    option http-ignore-probes
    timeout http-keep-alive 60s
    timeout client 60s
    timeout server 30s
    timeout check 1s

# TLS passes through (TCP mode): each replica terminates it, so a client's reconnect may
# reach any of them and resumes only if they share ticket keys.
frontend tls
    mode tcp
    bind {self.lb.ip}:8443
    default_backend gateways_tls

backend gateways_tls
    mode tcp
    balance roundrobin
    default-server inter {INTER_MS}ms fall {FALL} rise {RISE}
{tls_servers}

frontend http
    bind {self.lb.ip}:8080
    option forwardfor
    default_backend gateways

backend gateways
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter {INTER_MS}ms fall {FALL} rise {RISE}
{servers}
""")
        self.haproxy = self.lb.start(["haproxy", "-W", "-db", "-f", config], "haproxy.log")
        wait_until(lambda: all(s == "UP" for s in self.server_states().values()), 30, "HAProxy sees every replica up")

    def server_stats(self, backend="gateways"):
        """HAProxy's stats row of each replica in `backend`, from its stats socket."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.haproxy_socket)
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        lines = data.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        states = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == backend and row.get("svname") not in ("BACKEND", "FRONTEND"):
                states[row["svname"]] = row
        return states

    def server_states(self):
        """HAProxy's view of each replica (UP, DOWN, MAINT, …)."""
        return {name: row["status"].split(" ")[0] for name, row in self.server_stats().items()}

    def start(self):
        self.start_database()
        self.start_redis()
        self.start_upstream()
        self.write_tls_material()
        self.write_config()
        sh(self.binary, "migrate", "--config", self.config, "--data-dir", os.path.join(self.lab.work, "cli"))
        for host in self.gateway_hosts:
            self.start_gateway(host)
        self.start_worker()
        self.start_balancer()


def postgres_ids():
    import pwd
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid
