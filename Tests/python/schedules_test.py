"""Scheduled jobs end to end: the real `aiwriter` binary on SQLite and on a private PostgreSQL
this script starts itself.

Run by scripts/test.sh: `python Tests/python/schedules_test.py BINARY`. Exits non-zero on the
first failure. What it proves: backups land in their directory as whole, restorable files and
only the newest `keep` stay; index snapshots are copied per run; a schedule missed for five
hours of downtime runs once at start, not five times; with two `serve` replicas and a
`worker` on one PostgreSQL, every slot runs in exactly one process (the row's run count equals
its slots run) and kill -9 of one leaves the others running them; a bad `schedules` entry stops the start with
its reason.
"""
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, free_port, psql, wait_until  # noqa: E402

BINARY = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

class Gateway:
    def __init__(self, work, schedules, database_url=None):
        self.work = work
        os.makedirs(work, exist_ok=True)
        self.config = os.path.join(work, "gateway.yaml")
        with open(self.config, "w") as f:
            f.write("jobs-lease: 2s\ndrain-timeout: 2s\nschedules:\n" + schedules)
        self.base = ["--config", self.config, "--data-dir", os.path.join(work, "data")]
        if database_url:
            self.base += ["--database-url", database_url]
        subprocess.run([BINARY, "migrate", *self.base], check=True, capture_output=True)
        self.processes = []

    def serve(self, log="serve.log"):
        port = free_port()
        process = self.start("serve", "--port", str(port), log=log)
        wait_until(lambda: ready(port), 30, "the gateway answers /healthz")
        return process

    def worker(self, log="worker.log"):
        return self.start("worker", "--jobs-workers", "1", log=log)

    def start(self, *args, log):
        handle = open(os.path.join(self.work, log), "a")
        process = subprocess.Popen([BINARY, *args, *self.base, "--loops", "2"], stdout=handle, stderr=handle)
        self.processes.append(process)
        return process

    def stop(self, process):
        process.send_signal(signal.SIGTERM)
        check(process.wait(timeout=15) == 0, "SIGTERM drains and exits 0")
        self.processes.remove(process)

    def stop_all(self):
        for process in list(self.processes):
            if process.poll() is None:
                process.kill()
            process.wait()
        self.processes = []

    def logs(self):
        text = ""
        for name in os.listdir(self.work):
            if name.endswith(".log"):
                with open(os.path.join(self.work, name)) as f:
                    text += f.read()
        return text

def ready(port):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
        return True
    except Exception:
        return False

def test_sqlite(work):
    backups = os.path.join(work, "backups")
    indexes = os.path.join(work, "indexes")
    g = Gateway(work, f"""
  - {{name: backup, cron: "*/2 * * * * *", task: backup, directory: "{backups}", keep: 2}}
  - {{name: indexes, cron: "*/2 * * * * *", task: index-snapshot, directory: "{indexes}", keep: 3}}
  - {{name: rollup, cron: "0 * * * *", task: usage-rollup}}
""")
    database = os.path.join(work, "data", "aiwriter.sqlite3")
    try:
        server = g.serve()
        names = lambda: sorted(n for n in os.listdir(backups) if n.endswith(".bak")) if os.path.isdir(backups) else []
        wait_until(lambda: len(names()) == 2, 20, "two backups are written")
        time.sleep(4.5)
        kept = names()
        check(len(kept) == 2 and kept[0].startswith("aiwriter-") and kept[-1].endswith("Z.bak"), f"only the newest two are kept ({kept})")
        check(not any(n.endswith(".partial") for n in os.listdir(backups)), "no half-written backup is left")
        copy = sqlite3.connect(os.path.join(backups, kept[-1]))
        check(copy.execute("SELECT count(*) FROM tenants").fetchone()[0] >= 0 and copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok",
              "a backup is a whole SQLite database")
        copy.close()
        folders = sorted(os.listdir(indexes))
        check(1 <= len(folders) <= 3 and all(f.startswith("snapshots-") for f in folders), f"index snapshot copies, the newest three ({folders})")
        restored = os.path.join(work, "restored")
        result = subprocess.run([BINARY, "restore", "--from", os.path.join(backups, kept[-1]), "--data-dir", restored],
                                capture_output=True, text=True)
        check(result.returncode == 0, f"aiwriter restore takes a scheduled backup ({result.stderr.strip()[-200:]})")

        # Five hours of downtime: the hourly roll-up runs once at start, not once per missed hour.
        g.stop(server)
        db = sqlite3.connect(database)
        now = int(time.time() * 1000)
        db.execute("UPDATE schedules SET next_at = ? WHERE name = 'rollup'", (now - 5 * 3_600_000,))
        db.commit()
        before = db.execute("SELECT count(*) FROM schedule_runs WHERE name = 'rollup'").fetchone()[0]
        server = g.serve()
        wait_until(lambda: db.execute("SELECT runs FROM schedules WHERE name = 'rollup'").fetchone()[0] >= 1, 10, "the missed roll-up runs")
        time.sleep(2)
        runs, next_at = db.execute("SELECT runs, next_at FROM schedules WHERE name = 'rollup'").fetchone()
        after = db.execute("SELECT count(*) FROM schedule_runs WHERE name = 'rollup'").fetchone()[0]
        check(runs == 1 and after == before + 1, f"it ran once ({runs} runs)")
        check(next_at > time.time() * 1000 and next_at % 3_600_000 == 0, "and is next due at the coming hour")
        db.close()
        g.stop(server)
        check("scheduled job failed" not in g.logs(), "no scheduled job failed")
    finally:
        g.stop_all()

    # A bad entry stops the start with its reason.
    bad = os.path.join(work, "bad.yaml")
    with open(bad, "w") as f:
        f.write('schedules:\n  - {name: nightly, cron: "0 25 * * *", task: backup, directory: /tmp/x}\n')
    result = subprocess.run([BINARY, "serve", "--config", bad, "--data-dir", os.path.join(work, "bad")], capture_output=True, text=True, timeout=30)
    check(result.returncode != 0 and "outside 0-23" in result.stderr + result.stdout, "a bad cron expression is refused at start")

def test_postgres(work):
    pg_dir = tempfile.mkdtemp(prefix="aiwriter-schedules-pg-")
    os.chmod(pg_dir, 0o755)
    port = free_port()
    url = subprocess.run([os.path.join(ROOT, "scripts/postgres.sh"), "start", pg_dir, str(port)], check=True, capture_output=True,
                         text=True).stdout.strip()
    backups = os.path.join(work, "backups")
    g = Gateway(work, f"""
  - {{name: tick, cron: "* * * * * *", task: lease-sweep}}
  - {{name: backup, cron: "*/3 * * * * *", task: backup, directory: "{backups}", keep: 50}}
""", database_url=url)
    try:
        a, b = g.serve("serve-a.log"), g.serve("serve-b.log")
        w = g.worker()
        time.sleep(6)
        # Whichever process has been winning, killing one leaves the others running the slots.
        a.kill()
        a.wait()
        g.processes.remove(a)
        before = int(psql(url, "SELECT runs FROM schedules WHERE name = 'tick'"))
        time.sleep(6)
        during = int(psql(url, "SELECT runs FROM schedules WHERE name = 'tick'"))
        check(during - before >= 3, f"after kill -9 of one replica the others go on ({during - before} runs in 6 s)")
        for process in (b, w):
            g.stop(process)
        runs = int(psql(url, "SELECT runs FROM schedules WHERE name = 'tick'"))
        rows = int(psql(url, "SELECT count(*) FROM schedule_runs WHERE name = 'tick'"))
        slots = int(psql(url, "SELECT count(DISTINCT slot) FROM schedule_runs WHERE name = 'tick'"))
        check(8 <= runs <= 16 and runs == rows == slots, f"three processes, one run per second's slot ({runs} runs, {rows} rows)")
        missing = psql(url, "SELECT count(*) FROM schedule_runs WHERE finished_at IS NULL OR error IS NOT NULL")
        check(missing == "0", "every run finished without error")
        dumps = sorted(n for n in os.listdir(backups) if n.endswith(".bak"))
        backup_runs = int(psql(url, "SELECT runs FROM schedules WHERE name = 'backup'"))
        check(len(dumps) == backup_runs >= 3, f"one pg_dump per backup slot ({len(dumps)} files, {backup_runs} runs)")
        check(all(os.path.exists(os.path.join(backups, n + ".counts")) for n in dumps), "each with its counts")
        check("scheduled job failed" not in g.logs(), "no scheduled job failed")
    finally:
        g.stop_all()
        subprocess.run([os.path.join(ROOT, "scripts/postgres.sh"), "stop", pg_dir])
        shutil.rmtree(pg_dir, ignore_errors=True)

def main():
    work = tempfile.mkdtemp(prefix="aiwriter-schedules-")
    try:
        test_sqlite(os.path.join(work, "sqlite"))
        test_postgres(os.path.join(work, "postgres"))
    except SystemExit:
        print("logs kept in", work)
        raise
    shutil.rmtree(work, ignore_errors=True)
    print("all schedules tests passed")

if __name__ == "__main__":
    main()
