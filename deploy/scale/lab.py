"""Test hosts for the scale-out harness: one network namespace per host on a private bridge.

Each host is a namespace with a veth pair whose far end sits on the bridge `aiwsc-br`
(10.231.0.1/24 in the root namespace, where the clients run). There is no default route and no
NAT: every address the harness talks to is one it made. A partition is the host's veth taken
down on the bridge side, which loses packets silently (no RST), the way a dead switch port does.

Everything made here is named `aiwsc-…`, so a run that was killed is cleaned up by the next one.
"""
import os
import signal
import subprocess
import time

PREFIX = "aiwsc"
BRIDGE = f"{PREFIX}-br"
SUBNET = "10.231.0"
CLIENT_IP = f"{SUBNET}.1"


def sh(*argv, check=True, timeout=60, **kwargs):
    return subprocess.run(list(argv), check=check, timeout=timeout, capture_output=True, text=True, **kwargs)


def namespaces():
    out = sh("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX + "-")]


def clean_leftovers():
    """Kills every process in a namespace of ours, then removes the namespaces and the bridge."""
    for ns in namespaces():
        for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    time.sleep(0.2 if namespaces() else 0)
    for ns in namespaces():
        sh("ip", "netns", "delete", ns, check=False)
    sh("ip", "link", "delete", BRIDGE, check=False)


class Host:
    def __init__(self, lab, name, octet):
        self.lab = lab
        self.name = name
        self.ns = f"{PREFIX}-{name}"
        self.ip = f"{SUBNET}.{octet}"
        self.veth = f"{PREFIX}v{octet}"  # the bridge-side end (IFNAMSIZ is 16)
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        sh("ip", "link", "set", self.veth, "master", BRIDGE, "up")
        self.run("ip", "addr", "add", f"{self.ip}/24", "dev", "eth0")
        self.run("ip", "link", "set", "eth0", "up")
        self.run("ip", "link", "set", "lo", "up")

    def argv(self, argv, user=None):
        # setpriv execs (no forked parent left between us and the process), so a signal sent
        # to the Popen reaches the server itself: kill -9 means kill -9.
        become = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"] if user else []
        return ["ip", "netns", "exec", self.ns, *become, *argv]

    def run(self, *argv, user=None, check=True, timeout=120):
        return sh(*self.argv(argv, user), check=check, timeout=timeout)

    def start(self, argv, log, user=None, env=None):
        handle = open(os.path.join(self.lab.work, log), "ab")
        process = subprocess.Popen(self.argv(argv, user), stdout=handle, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        handle.close()
        self.lab.processes.append(process)
        return process

    def partition(self):
        sh("ip", "link", "set", self.veth, "down")

    def heal(self):
        sh("ip", "link", "set", self.veth, "up")


class Lab:
    """The bridge, the hosts on it, and every process started in them; `close` undoes it all."""

    def __init__(self, work):
        self.work = work
        self.processes = []
        self.hosts = []
        clean_leftovers()
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{CLIENT_IP}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")

    def host(self, name, octet):
        host = Host(self, name, octet)
        self.hosts.append(host)
        return host

    def close(self):
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        clean_leftovers()
        left = namespaces()
        if left:
            raise RuntimeError(f"namespaces left behind: {left}")
