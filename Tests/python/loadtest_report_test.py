"""loadtest's reports in a real browser: the real `loadtest` against the real gateway on its
embedded defaults, and every HTML it writes (run, compare, capacity) opened in Debian's headless
Chromium.

Run by scripts/test.sh: `python Tests/python/loadtest_report_test.py LOADTEST AIWRITER`. Exits
non-zero on the first failure. What it proves: each page loads with no console message at all
(the pages carry no script, so any message is a fault; a page that does log is caught, which
shows the check works), its charts are SVG with two labelled axes and ticks each, it renders
to pixels; the run's JSON keeps the fields scripts read and adds the per-request breakdown;
`compare` of a run with itself ends every judged line in "no significant change"; `capacity`
reports a range, each rate's trials, and the JSON `capacity` object.
"""
import html.parser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, free_port, wait_until  # noqa: E402

LOADTEST = os.path.abspath(sys.argv[1])
AIWRITER = os.path.abspath(sys.argv[2])
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
CHROMIUM = shutil.which("chromium")


class Charts(html.parser.HTMLParser):
    """The SVGs of a dumped DOM: per chart, its axis labels' and ticks' texts."""

    def __init__(self):
        super().__init__()
        self.charts = []
        self.current = None
        self.texts = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg":
            self.charts.append({"axis": [], "ticks": []})
        if tag == "text" and self.charts:
            self.current = {"axis-label": "axis", "tick": "ticks"}.get(attrs.get("class"))
            self.texts = []

    def handle_data(self, data):
        if self.current is not None:
            self.texts.append(data)

    def handle_endtag(self, tag):
        if tag == "text" and self.current is not None:
            self.charts[-1][self.current].append("".join(self.texts).strip())
            self.current = None


def open_in_chromium(path, work):
    """The DOM Chromium built, and every console message it logged."""
    profile = tempfile.mkdtemp(dir=work)
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                             "--enable-logging=stderr", "--v=0", "--dump-dom", "file://" + path],
                            capture_output=True, text=True, timeout=120)
    check(result.returncode == 0, f"chromium opened {os.path.basename(path)}")
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return result.stdout, console


def screenshot(path, work):
    shot = path + ".png"
    profile = tempfile.mkdtemp(dir=work)
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}", "--hide-scrollbars",
                    "--window-size=1200,2000", f"--screenshot={shot}", "file://" + path], capture_output=True, timeout=120)
    return os.path.getsize(shot) if os.path.exists(shot) else 0


def check_page(path, work, minimum_charts):
    name = os.path.basename(path)
    dom, console = open_in_chromium(path, work)
    check(console == [], f"{name}: no console messages ({console[:3]})")
    charts = Charts()
    charts.feed(dom)
    check(len(charts.charts) >= minimum_charts, f"{name}: {len(charts.charts)} charts (at least {minimum_charts})")
    for i, chart in enumerate(charts.charts):
        check(len(chart["axis"]) == 2 and all(chart["axis"]), f"{name} chart {i + 1}: both axes labelled {chart['axis']}")
        check(len(chart["ticks"]) >= 3, f"{name} chart {i + 1}: {len(chart['ticks'])} ticks")
    check(screenshot(path, work) > 20_000, f"{name}: renders to pixels")
    return dom


def main():
    check(CHROMIUM is not None, "chromium is installed (scripts/install-deps.sh)")
    work = tempfile.mkdtemp(prefix="loadtest-report-")
    port = free_port()
    gateway = subprocess.Popen([AIWRITER, "serve", "--data-dir", os.path.join(work, "data"), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"

        def healthy():
            try:
                return urllib.request.urlopen(url + "/healthz", timeout=1).status == 200
            except OSError:
                return False

        wait_until(healthy, 30, "the gateway answers /healthz")

        # The detector itself: a page that logs must be caught.
        bad = os.path.join(work, "bad.html")
        with open(bad, "w") as f:
            f.write("<!doctype html><html><body><script>console.error('boom')</script></body></html>")
        check(open_in_chromium(bad, work)[1] != [], "a page that logs to the console is caught")

        scenario = os.path.join(work, "mix.yaml")
        with open(scenario, "w") as f:
            f.write("requests:\n  - {name: health, weight: 3, url: /healthz}\n  - {name: absent, url: /no-such-route}\n"
                    "thresholds: [\"p99<500ms\"]\n")
        run_json, run_html = os.path.join(work, "run.json"), os.path.join(work, "run.html")
        run = subprocess.run([LOADTEST, "run", "--url", url, "--scenario", scenario, "-c", "8", "-t", "1", "-R", "1500", "-d", "3s",
                              "--json", run_json, "--html", run_html], capture_output=True, text=True, timeout=60)
        check(run.returncode == 0, f"loadtest run passes its threshold ({run.stdout[-300:]} {run.stderr[-300:]})")
        check("Per request" in run.stdout and "absent" in run.stdout and "Generator:" in run.stdout,
              "the text summary has the per-request table and the generator line")
        report = json.load(open(run_json))
        for key in ["requests", "errors", "duration_s", "rps", "latency_ms", "timeseries", "errors_by_class", "status", "histogram_us"]:
            check(key in report, f"JSON keeps `{key}`")
        check(all(k in report["latency_ms"] for k in ["p50", "p90", "p99", "p999", "max"]), "JSON latency_ms keeps its percentiles")
        names = {r["name"]: r for r in report["per_request"]}
        check(set(names) == {"health", "absent"} and names["absent"]["errors"] == names["absent"]["requests"] > 0,
              "JSON per_request: both names, the absent route's answers all 404 errors")
        check(sum(r["requests"] for r in names.values()) == report["requests"], "per-request counts add up to the total")
        last = report["timeseries"][-1]
        check(abs(last["requests"] / last["length_s"] - 1500) < 300, f"the last second's rate uses its real length ({last})")
        dom = check_page(run_html, work, 5)
        check("Per request" in dom and "Thresholds" in dom and "p99&lt;500ms" in dom, "the run page has the per-request table and thresholds")

        compare_html = os.path.join(work, "compare.html")
        compare = subprocess.run([LOADTEST, "compare", run_json, run_json, "--html", compare_html], capture_output=True, text=True, timeout=60)
        judged = [line for line in compare.stdout.splitlines() if line.split(" ")[0] in ("throughput", "errors", "p50", "p90", "p99", "p99.9", "max")]
        check(compare.returncode == 0 and len(judged) == 7 and all(line.endswith("no significant change") for line in judged),
              f"compare of a run with itself: no significant change on every line\n{compare.stdout}")
        check_page(compare_html, work, 3)

        capacity_json, capacity_html = os.path.join(work, "capacity.json"), os.path.join(work, "capacity.html")
        capacity = subprocess.run([LOADTEST, "capacity", "--url", url + "/healthz", "-c", "8", "-t", "1", "--slo", "p99<200ms,errors<1%",
                                   "--start-rate", "400", "--max-rate", "1600", "--step-duration", "1s", "--step-warmup", "300ms",
                                   "--pause", "200ms", "--json", capacity_json, "--html", capacity_html],
                                  capture_output=True, text=True, timeout=180)
        check(capacity.returncode == 0 and "capacity: at least 1600 requests/s" in capacity.stdout,
              f"capacity on an idle gateway reaches the search's maximum\n{capacity.stdout}")
        document = json.load(open(capacity_json))["capacity"]
        trials_at_max = [t for t in document["trials"] if t["rate"] == 1600]
        check(document["low"] == 1600 and document["high"] is None and len(trials_at_max) == 3 and all(t["holds"] for t in trials_at_max),
              "capacity JSON: low with three held trials, high null")
        check_page(capacity_html, work, 2)
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)
    shutil.rmtree(work, ignore_errors=True)
    print("loadtest reports: all checks passed")


main()
