"""`make bench`: what the exporter adds, measured against its floor.

Three configurations alternate in rounds, in an order rotated each round:

  base      no BPF program loaded
  floor     build/floor.bpf.o: empty programs on the exporter's exact hooks
            (the price of the hooks themselves: on a nested VM an empty
            syscall tracepoint alone adds 100-200 ns per call)
  exporter  build/sse_exporter, default options

and every configuration runs the same measurements:

  untracked write  64-byte write()s on an accepted TCP connection whose
                   first bytes read were not HTTP (PROTO_OTHER)
  /dev/null write  64-byte write()s on a non-socket fd
  sse event        one SSE event, one HTTP chunk, one write() on a tracked
                   HTTP stream
  server           events/s that concurrent clients receive from the
                   FastAPI server tests/e2e/servers/fastapi_sse.py

For the first three, a configuration's added cost is its ns/op minus the
base ns/op of the same round; the figure is the median over rounds of the
exporter's added cost divided by the median of the floor's. For the server,
each configuration's events/s is divided by the base of the same round.
Only ratios of one run are reported, never single absolute times.

The exporter figures are checked: the untracked connection must be in the
conns map as PROTO_OTHER, and sse_chunks_streamed_total must grow by the
events written; otherwise the figure is marked and a warning printed.

Run as root from the repository (make bench does); stdlib only.
Environment: BENCH_ROUNDS (5), BENCH_SERVER_SECONDS (5),
BENCH_SERVER_CONNS (4), BENCH_SERVER_EVENTS (200).
"""
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "build", "bench")
EXPORTER = os.path.join(ROOT, "build", "sse_exporter")
FLOOR_OBJ = os.path.join(ROOT, "build", "floor.bpf.o")
SERVER = os.path.join(ROOT, "tests", "e2e", "servers", "fastapi_sse.py")
BPFTOOL = "/usr/sbin/bpftool"
PYTHON = "/usr/bin/python3"

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 5))
SERVER_SECONDS = float(os.environ.get("BENCH_SERVER_SECONDS", 5))
SERVER_CONNS = int(os.environ.get("BENCH_SERVER_CONNS", 4))
SERVER_EVENTS = int(os.environ.get("BENCH_SERVER_EVENTS", 200))
CONFIGS = ["base", "floor", "exporter"]
PROGS_EXPECTED = {"base": 0, "floor": 30, "exporter": 30}

# name, unit, target ratio of the exporter's added cost to the floor's
MICRO = [
    ("untracked write", "socket_write", 1.2),
    ("/dev/null write", "devnull_write", 1.2),
    ("sse event", "sse_event", 2.0),
]
SERVER_TARGET_POINTS = 2.0
FOREIGN_CPU_MAX = 0.05  # of one CPU: more, from other processes, spoils a round
BUDGET_SECONDS = float(os.environ.get("BENCH_BUDGET_SECONDS", 210))  # for redone rounds

children = []
warnings = []


def log(msg):
    print(msg, flush=True)


def warn(msg):
    if msg not in warnings:
        warnings.append(msg)
    print("WARNING: " + msg, flush=True)


# ---------------------------------------------------------------- processes

def spawn(argv, **kw):
    p = subprocess.Popen(argv, cwd=ROOT, **kw)
    children.append(p)
    return p


def stop(p, timeout=15):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in children:
        children.remove(p)


def stop_all(*_):
    for p in list(children):
        stop(p, 5)


def on_signal(sig, _frame):
    stop_all()
    sys.exit(128 + sig)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def wait_http(url, proc, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("bench: %s exited with %d before it was ready" % (what, proc.returncode))
        try:
            if http_get(url, 1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit("bench: %s not ready after %d s" % (what, timeout))


def build_tools():
    os.makedirs(OUT, exist_ok=True)
    for name in ("floor_loader", "loadgen"):
        src = os.path.join(ROOT, "tests", "bench", name + ".c")
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o",
                        os.path.join(OUT, name), src, "-lbpf", "-lelf", "-lz", "-lpthread"],
                       check=True)


def bpf_progs():
    """Tracing programs loaded now (tracepoint, tp_btf and the like)."""
    out = subprocess.run([BPFTOOL, "-j", "prog", "show"], capture_output=True, text=True)
    if out.returncode:
        return []
    return [p for p in json.loads(out.stdout or "[]")
            if p.get("type") in ("tracepoint", "tracing", "raw_tracepoint", "kprobe",
                                 "perf_event")]


def cpu_ticks():
    """pid -> user+system clock ticks of every user-space process."""
    ticks = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        f = stat[stat.rindex(")") + 2:].split()
        if int(f[6]) & 0x00200000 or f[1] == "2":  # PF_KTHREAD, or child of kthreadd
            continue
        ticks[int(pid)] = int(f[11]) + int(f[12])
    return ticks


def foreign_cpu(before, after, seconds):
    """Share of one CPU that processes other than ours used in between,
    and the busiest of them."""
    ours = {os.getpid()} | {p.pid for p in children}
    used = {pid: t - before.get(pid, 0) for pid, t in after.items() if pid not in ours}
    hz = os.sysconf("SC_CLK_TCK")
    total = sum(used.values()) / hz / max(seconds, 1e-3)
    top = max(used, key=used.get) if used else None
    return total, top


def comm(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:80]
    except OSError:
        return "?"


def wait_quiet(limit):
    """Waits, up to limit seconds, for no foreign tracing program and no
    busy foreign process; returns whether the machine is quiet."""
    deadline = time.monotonic() + limit
    while True:
        before, t0 = cpu_ticks(), time.monotonic()
        time.sleep(1)
        share, _ = foreign_cpu(before, cpu_ticks(), time.monotonic() - t0)
        if not bpf_progs() and share < FOREIGN_CPU_MAX:
            return True
        if time.monotonic() > deadline:
            return False


# ------------------------------------------------------------ configurations

class Config:
    def __init__(self, name):
        self.name = name
        self.proc = None
        self.port = None

    def start(self):
        if self.name == "floor":
            self.proc = spawn([os.path.join(OUT, "floor_loader"), FLOOR_OBJ],
                              stdout=subprocess.PIPE, text=True)
            line = self.proc.stdout.readline()
            if not line.startswith("ready"):
                sys.exit("bench: floor_loader failed (%r)" % line)
        elif self.name == "exporter":
            self.port = free_port()
            self.proc = spawn([EXPORTER, "--web.listen-address=127.0.0.1:%d" % self.port,
                               "--log.level=warn"])
            wait_http("http://127.0.0.1:%d/health" % self.port, self.proc, "sse_exporter")
        time.sleep(0.3)  # let start-up work (/proc adoption) settle

    def foreign_progs(self):
        n = len(bpf_progs())
        if n != PROGS_EXPECTED[self.name]:
            return "%d tracing BPF programs loaded during '%s' (expected %d)" % (
                n, self.name, PROGS_EXPECTED[self.name])
        return None

    def stop(self):
        if self.proc:
            stop(self.proc)
            if self.proc.returncode not in (0, -signal.SIGTERM):
                warn("%s exited with %s" % (self.name, self.proc.returncode))
        self.proc = None

    def metric(self, name):
        """Sum of every sample of a metric of the running exporter."""
        _, text = http_get("http://127.0.0.1:%d/metrics" % self.port, 5)
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_metric(self, name, before, expected, timeout=5):
        """Polls until the metric grew by expected; returns the growth."""
        deadline = time.monotonic() + timeout
        while True:
            grown = self.metric(name) - before
            if grown >= expected or time.monotonic() > deadline:
                return grown
            time.sleep(0.1)


def conns_map_id():
    """The conns map of the newest exporter loaded."""
    out = subprocess.run([BPFTOOL, "-j", "map", "show"], capture_output=True, text=True)
    ids = [m["id"] for m in json.loads(out.stdout or "[]") if m.get("name") == "conns"]
    return max(ids) if ids else None


def conn_proto(pid, fd):
    map_id = conns_map_id()
    if map_id is None:
        return None
    key = [str(b) for b in struct.pack("<Ii", pid, fd)]
    out = subprocess.run([BPFTOOL, "-j", "map", "lookup", "id", str(map_id), "key"] + key,
                         capture_output=True, text=True)
    if out.returncode:
        return None
    try:
        return json.loads(out.stdout)["formatted"]["value"]["proto"]
    except (ValueError, KeyError):
        return None


# ------------------------------------------------------------- measurements

def loadgen(args, check=None):
    """Runs loadgen; returns {name: median ns/op} and other lines' fields.
    With check, HOLD=1 and check(pid, fd) runs while the fd is open."""
    env = dict(os.environ)
    if check:
        env["HOLD"] = "1"
    p = spawn([os.path.join(OUT, "loadgen")] + args, stdin=subprocess.PIPE,
              stdout=subprocess.PIPE, text=True, env=env)
    res = {}
    for line in p.stdout:
        f = line.split()
        if f[0] == "hold":
            check(int(f[1]), int(f[2]))
            p.stdin.write("\n")
            p.stdin.flush()
        elif f[0] == "client_events":
            res.update({f[i]: float(f[i + 1]) for i in range(0, len(f), 2)})
        elif len(f) >= 2:
            res[f[0]] = float(f[1])
    p.stdin.close()
    p.wait()
    children.remove(p)
    if p.returncode:
        sys.exit("bench: loadgen %s failed (%d)" % (" ".join(args), p.returncode))
    return res


class Bench:
    def __init__(self, server_port):
        self.server_port = server_port
        self.n_untracked = 300000
        self.n_sse = 200000
        # values[measure][config] = list over rounds
        self.values = {}
        self.flags = {}  # measure -> set of problems of the exporter figure
        self.lost = 0
        self.round = {}
        self.redone = []

    def add(self, measure, config, value):
        self.round.setdefault(measure, {})[config] = value

    def commit(self):
        for measure, by_config in self.round.items():
            for config, value in by_config.items():
                self.values.setdefault(measure, {c: [] for c in CONFIGS})[config].append(value)
        self.round = {}

    def flag(self, measure, problem):
        self.flags.setdefault(measure, set()).add(problem)
        warn("%s: %s" % (measure, problem))

    def calibrate(self):
        """Loop sizes for about one second per timed run, without BPF."""
        r = loadgen(["untracked", "20000"])
        self.n_untracked = max(20000, int(1.0e9 / r["socket_write"]) // 1000 * 1000)
        r = loadgen(["sse", "20000"])
        self.n_sse = max(20000, int(1.0e9 / r["sse_event"]) // 1000 * 1000)
        log("calibrated: untracked N=%d, sse N=%d" % (self.n_untracked, self.n_sse))

    def run_config(self, cfg):
        exp = cfg.name == "exporter"

        def check_untracked(pid, fd):
            proto = conn_proto(pid, fd)
            if proto != 2:
                self.flag("socket_write", "the untracked connection is not in the conns map "
                          "as PROTO_OTHER (proto=%s): the exporter figure does not measure "
                          "that path" % proto)

        r = loadgen(["untracked", str(self.n_untracked)], check_untracked if exp else None)
        self.add("socket_write", cfg.name, r["socket_write"])
        self.add("devnull_write", cfg.name, r["devnull_write"])

        if exp:
            chunks0 = cfg.metric("sse_chunks_streamed_total")
            lost0 = cfg.metric("sse_exporter_events_lost_total")
        r = loadgen(["sse", str(self.n_sse)])
        self.add("sse_event", cfg.name, r["sse_event"])
        if exp:
            written = r["sse_events_written"]
            grown = cfg.wait_metric("sse_chunks_streamed_total", chunks0, written)
            if grown < written:
                self.flag("sse_event", "sse_chunks_streamed_total grew by %d for %d events "
                          "written: the exporter did not follow the stream" % (grown, written))

        if exp:
            chunks0 = cfg.metric("sse_chunks_streamed_total")
        r = loadgen(["client", str(self.server_port), str(SERVER_CONNS), str(SERVER_SECONDS),
                     str(SERVER_EVENTS)])
        if r["errors"]:
            warn("server run (%s): %d request errors" % (cfg.name, r["errors"]))
        self.add("server", cfg.name, r["events_per_s"])
        if exp:
            got = r["client_events"]
            grown = cfg.wait_metric("sse_chunks_streamed_total", chunks0, got)
            if grown < 0.99 * got:
                self.flag("server", "sse_chunks_streamed_total grew by %d for %d events "
                          "received: the exporter did not follow the server" % (grown, got))
            lost = cfg.metric("sse_exporter_events_lost_total") - lost0
            if lost:
                self.lost += lost
                warn("the exporter lost %d ring buffer records" % lost)

    def run_round(self, order):
        """Returns why the round is spoilt, or None."""
        spoilt = None
        for name in order:
            cfg = Config(name)
            cfg.start()
            try:
                before, t0 = cpu_ticks(), time.monotonic()
                self.run_config(cfg)
                share, top = foreign_cpu(before, cpu_ticks(), time.monotonic() - t0)
                spoilt = spoilt or cfg.foreign_progs()
                if share >= FOREIGN_CPU_MAX and not spoilt:
                    spoilt = "other processes used %.0f%% of a CPU during '%s' (busiest: " \
                             "%d %s)" % (100 * share, name, top, comm(top))
            finally:
                cfg.stop()
        return spoilt

    def run(self, start):
        r = 0
        while r < ROUNDS:
            order = CONFIGS[r % 3:] + CONFIGS[:r % 3]
            t0 = time.monotonic()
            spoilt = self.run_round(order)
            took = time.monotonic() - t0
            log("round %d/%d (%s): %.0f s%s" % (r + 1, ROUNDS, " ".join(order), took,
                                                ", spoilt: " + spoilt if spoilt else ""))
            left = BUDGET_SECONDS - (time.monotonic() - start)
            if spoilt and left > took + 10 and wait_quiet(min(30, left - took)):
                self.round = {}
                self.redone.append(spoilt)
                log("  redoing the round")
                continue
            if spoilt:
                warn("round %d kept although spoilt: %s" % (r + 1, spoilt))
            self.commit()
            r += 1


# ------------------------------------------------------------------ report

def spread(xs):
    """Max minus min, relative to the median, in percent."""
    m = statistics.median(xs)
    return 100.0 * (max(xs) - min(xs)) / m if m else 0.0


def report(b):
    lines = []
    out = lines.append
    summary = {}
    out("sse_exporter benchmark: %d rounds of base / floor / exporter, order rotated per "
        "round" % ROUNDS)
    out("added = config ns/op - base ns/op of the same round; medians over rounds; "
        "ratio = exporter added / floor added")
    out("")
    hdr = "%-16s %11s %12s %15s %7s %8s %s" % ("measurement", "base ns/op", "floor added",
                                               "exporter added", "ratio", "target", "result")
    out(hdr)
    out("-" * len(hdr))
    per_round = []
    for title, key, target in MICRO:
        v = b.values[key]
        fa = [f - s for f, s in zip(v["floor"], v["base"])]
        ea = [e - s for e, s in zip(v["exporter"], v["base"])]
        mf, me = statistics.median(fa), statistics.median(ea)
        ratio = me / mf if mf > 0 else float("inf")
        mark = "*" if key in b.flags else ""
        result = "PASS" if ratio <= target else "MISS"
        if mark:
            result += " (unverified*)"
        out("%-16s %11.1f %12.1f %15.1f %6.2fx %7.1fx %s" % (
            title, statistics.median(v["base"]), mf, me, ratio, target, result))
        summary[key] = "%.2fx%s" % (ratio, mark)
        rr = [e / f if f > 0 else float("inf") for e, f in zip(ea, fa)]
        per_round.append("%-16s base spread %4.1f%%, floor added %.0f..%.0f, exporter added "
                         "%.0f..%.0f, per-round ratio %.2f..%.2f" % (
                             title, spread(v["base"]), min(fa), max(fa), min(ea), max(ea),
                             min(rr), max(rr)))
    out("")
    v = b.values["server"]
    fr = [100.0 * f / s for f, s in zip(v["floor"], v["base"])]
    er = [100.0 * e / s for e, s in zip(v["exporter"], v["base"])]
    mf, me = statistics.median(fr), statistics.median(er)
    pts = mf - me
    mark = "*" if "server" in b.flags else ""
    hdr = "%-16s %11s %12s %15s %7s %8s %s" % ("server (FastAPI)", "base ev/s", "floor",
                                               "exporter", "diff", "target", "result")
    out(hdr)
    out("-" * len(hdr))
    result = "PASS" if pts <= SERVER_TARGET_POINTS else "MISS"
    if mark:
        result += " (unverified*)"
    out("%-16s %11.0f %11.1f%% %14.1f%% %5.1fpt %6.1fpt %s" % (
        "events/s", statistics.median(v["base"]), mf, me, pts, SERVER_TARGET_POINTS, result))
    per_round.append("%-16s base spread %4.1f%%, floor %.1f..%.1f%%, exporter %.1f..%.1f%%" % (
        "server", spread(v["base"]), min(fr), max(fr), min(er), max(er)))
    out("  (%d keep-alive connections, POST /v1/chat/completions?events=%d&interval_ms=0, "
        "%.0f s per run)" % (SERVER_CONNS, SERVER_EVENTS, SERVER_SECONDS))
    out("")
    out("variance across rounds (spread = (max - min) / median):")
    for line in per_round:
        out("  " + line)
    out("")
    out("per round, ns/op (server: events/s), base / floor / exporter:")
    for key in ["socket_write", "devnull_write", "sse_event", "server"]:
        v = b.values[key]
        out("  %-14s %s" % (key, "  ".join(
            "%.0f/%.0f/%.0f" % t for t in zip(v["base"], v["floor"], v["exporter"]))))
    if b.redone:
        out("")
        out("rounds redone (spoilt by other activity): %d" % len(b.redone))
    if b.flags or warnings:
        out("")
        for w in warnings:
            out("WARNING: " + w)
        if b.flags:
            out("* the exporter did not (fully) track this traffic: its figure is meaningless")
    out("")
    out("bench: untracked write %s floor, sse event %s floor, server throughput "
        "baseline=%.0f ev/s floor=%.1f%% exporter=%.1f%%%s" % (
            summary["socket_write"], summary["sse_event"],
            statistics.median(b.values["server"]["base"]),
            mf, me, mark))
    return "\n".join(lines) + "\n"


def main():
    os.chdir(ROOT)
    if os.geteuid() != 0:
        sys.exit("bench: needs root (BPF): sudo make bench")
    for path in (EXPORTER, FLOOR_OBJ, SERVER):
        if not os.path.exists(path):
            sys.exit("bench: %s missing (make all builds the first two)" % path)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t0 = time.monotonic()
    try:
        build_tools()
        if not wait_quiet(20):
            warn("the machine is not quiet (other tracing BPF programs or busy processes: an "
                 "e2e run?); spoilt rounds are redone while time allows")
        port = free_port()
        server = spawn([PYTHON, SERVER, str(port)], stdout=subprocess.DEVNULL)
        wait_http("http://127.0.0.1:%d/health" % port, server, "FastAPI server")
        b = Bench(port)
        b.calibrate()
        loadgen(["client", str(port), str(SERVER_CONNS), "1", str(SERVER_EVENTS)])  # warm up
        b.run(t0)
        text = report(b)
    finally:
        stop_all()
    log("")
    sys.stdout.write(text)
    with open(os.path.join(OUT, "results.txt"), "w") as f:
        f.write(text)
    log("(%.0f s; table in build/bench/results.txt)" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
