"""`make bench`: what the exporter adds, measured against its floor.

Three configurations alternate in rounds, in an order rotated each round:

  base      no BPF program loaded
  floor     build/floor.bpf.o: empty programs on the exporter's exact hooks
            (the price of the hooks themselves: on a nested VM an empty
            syscall tracepoint alone adds 100-200 ns per call, an empty
            uprobe 11-13 us), its uprobes on the OpenSSL functions of
            /usr/lib/x86_64-linux-gnu/libssl.so.3 that the exporter hooks
  exporter  build/sse_exporter with default options (BENCH_EXPORTER_ARGS
            adds others)

Measurements (build/bench/loadgen, from tests/bench/loadgen.c):

  untracked write  64-byte write()s on an accepted TCP connection whose
                   first bytes read were not HTTP (PROTO_OTHER)
  /dev/null write  64-byte write()s on a non-socket fd, by the same process
                   (so the same exit path as the socket's, minus the socket)
  unobserved proc  the same, by a process with no tracked connection yet
                   (most processes on a host)
  sse event        one SSE event, one HTTP chunk, one write() on a tracked
                   HTTP stream
  ssl write        the same event over TLS: one SSL_write (OpenSSL 3,
                   socket BIO, blocking) on a tracked TLS stream that the
                   same process serves, its ciphertext drained unread;
                   ns/op is the 10th percentile of a run's batches, not
                   the median: on a nested VM a uprobe's traps cost
                   15 to 28 us in phases of tens of ms (host activity),
                   which moves a run's median by half
  server           events/s that concurrent C clients receive from the
                   FastAPI server tests/e2e/servers/fastapi_sse.py
  tls server       the same with the server under uvicorn with TLS (a
                   self-signed certificate made with the openssl CLI) and
                   C clients over OpenSSL

For the micro measurements, a configuration's added cost is its ns/op
minus the base ns/op of the same round; the figure is the median over
rounds of the exporter's added cost divided by the median of the floor's.
For the servers, each configuration's events/s is divided by the base of
the same round and the figure is the difference of the medians, in points;
beside it, the median over rounds of exporter events/s / floor events/s. Only ratios of one
run are reported, never single absolute times. [lo..hi] after a figure is
a 90% bootstrap interval over the rounds: how far the figure can be trusted.

The exporter really followed what was measured, or its figure means
nothing; checked in every round, for each exporter configuration:

  - the untracked connection is in that exporter's own conns map (found
    through the exporter's file descriptors, not another exporter's that
    may run on the host) as PROTO_OTHER, the TLS one as PROTO_TLS;
  - sse_chunks_streamed_total grew by exactly the events written (sse,
    ssl: over TLS the exporter sees them only through its SSL_write
    uprobe) or received by the clients (servers: every response is read
    to its end, so that is what the server wrote), and sse_requests_total
    by exactly the requests. More is a failure too. Only the series of the
    measured process count: service is its process name (loadgen's, the
    server's) and path one that only this run uses,
    /bench<8 random letters>/<measurement>/v1/chat/completions (loadgen
    sends its requests there, the e2e servers answer under any prefix), so
    other processes' traffic cannot make the check pass. The
    counts are read once sse_requests_total shows every measured stream
    ended: the exporter handles a connection's records in order, so
    nothing of them is still queued;
  - sse_exporter_events_lost_total is 0 at the end of the exporter's part
    of the round (a new exporter per round: any record lost meanwhile).

Verdict: the last line printed is "bench: PASS: <figures>" or "bench:
FAIL: <reasons>" (a MISS against a target, a figure not tracked exactly,
records lost, and in which round); a failure exits with status 1. A
setup failure (a process not ready in time, loadgen failing) exits at
once with a "bench: ..." line. Spoilt rounds (below) are no failure.

No fixed sleep synchronises anything: the servers are ready when /health
answers 200; the floor once floor_loader printed "ready N" and holds N
BPF links; an exporter once /health answers 200 (all its programs
attached) and it logged "... programs attached, serving" (its start-up
scan of existing connections is done by then; it runs with
--log.level=info, its warnings and errors are shown when it stops);
loadgen says when a connection is held open for the map checks. The
remaining time.sleep()s are poll intervals of those waits, with
timeouts, and wait_quiet()'s measurement window.

Other activity on the machine (another exporter or e2e run loading BPF
programs, busy processes) spoils a round: it is redone while the time
budget allows, else dropped while enough clean rounds remain.

Run as root from the repository (make bench does); stdlib only.
Environment: BENCH_ROUNDS (8), BENCH_SERVER_ROUNDS (10),
BENCH_SERVER_SECONDS (3), BENCH_TLS_SERVER_SECONDS (2; 0 skips the TLS
server), BENCH_SERVER_CONNS (4), BENCH_SERVER_EVENTS (200),
BENCH_BUDGET_SECONDS (330: the time after which spoilt rounds are no longer
redone), BENCH_EXPORTER_ARGS (extra exporter options; --log.level=info
follows them),
BENCH_EXPORTER=PATH (the exporter binary, default build/sse_exporter: a
mutant built outside the tree shows that the checks fail),
BENCH_ALT_EXPORTER=PATH (a fourth configuration, "alt": another exporter
binary built from a variant, for A/B experiments in one run; its MISSes
and checks count in the verdict like the exporter's).
"""
import json
import os
import random
import re
import selectors
import shutil
import signal
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "build", "bench")
EXPORTER = os.environ.get("BENCH_EXPORTER") or os.path.join(ROOT, "build", "sse_exporter")
ALT_EXPORTER = os.environ.get("BENCH_ALT_EXPORTER")
EXPORTER_ARGS = os.environ.get("BENCH_EXPORTER_ARGS", "").split()
FLOOR_OBJ = os.path.join(ROOT, "build", "floor.bpf.o")
SERVER = os.path.join(ROOT, "tests", "e2e", "servers", "fastapi_sse.py")
BPFTOOL = "/usr/sbin/bpftool"
PYTHON = "/usr/bin/python3"
OPENSSL = "/usr/bin/openssl"

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 8))
MICRO_SECONDS = 0.5  # per timed loop: runs, not their length, average the noise out
SERVER_ROUNDS = int(os.environ.get("BENCH_SERVER_ROUNDS", 10))
SERVER_SECONDS = float(os.environ.get("BENCH_SERVER_SECONDS", 3))
SERVER_CONNS = int(os.environ.get("BENCH_SERVER_CONNS", 4))
SERVER_EVENTS = int(os.environ.get("BENCH_SERVER_EVENTS", 200))
TLS_SERVER_SECONDS = float(os.environ.get("BENCH_TLS_SERVER_SECONDS", 2))
BUDGET_SECONDS = float(os.environ.get("BENCH_BUDGET_SECONDS", 330))
MIN_CLEAN_ROUNDS = 3  # below this, spoilt rounds are kept (with a warning)

CONFIGS = ["base", "floor", "exporter"] + (["alt"] if ALT_EXPORTER else [])
EXPORTERS = [c for c in CONFIGS if c in ("exporter", "alt")]
PROGS_EXPECTED = {"base": 0, "floor": 38, "exporter": 38, "alt": 38}  # see count_progs()
PROTO_OTHER, PROTO_TLS = 2, 4  # include/conn_event.h

# title, key, target ratio of the exporter's added cost to the floor's
MICRO = [
    ("untracked write", "socket_write", 1.2),
    ("/dev/null write", "devnull_write", 1.2),
    ("  unobserved proc", "devnull_unobserved", 1.2),
    ("sse event", "sse_event", 2.0),
    ("ssl write (p10)", "ssl_write", 1.1),
]
# title, key: events/s of the servers, target in points of base
SERVERS = [("server (FastAPI)", "server"), ("TLS server", "tls_server")]
SERVER_TARGET_POINTS = 2.0
FOREIGN_CPU_MAX = 0.05  # of one CPU: more, from other processes, spoils a round
READY_TIMEOUT = 30  # s, for a process to be ready (a loaded machine is slow to load BPF)

# The bench's requests go to /<RUN_TAG>/<measurement>/v1/chat/completions,
# a path no other process uses: the tracking checks read only the series of
# that path and of the measured process's service. Letters past f only:
# the exporter's path normalisation folds digits and long hex into :id.
RUN_TAG = "bench" + "".join(random.SystemRandom().choice("ghijklmnopqrstuvwxyz")
                            for _ in range(8))
LOADGEN_SERVICE = "loadgen"  # its comm: the service label of its series

children = []
warnings = []
TMP = None  # the run's temporary directory


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


def stop_all():
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
    # https: the bench's own self-signed certificate, not verified
    ctx = ssl._create_unverified_context() if url.startswith("https:") else None
    with urllib.request.urlopen(url, timeout=timeout, context=ctx) as r:
        return r.status, r.read().decode()


def wait_http(url, proc, what, timeout=READY_TIMEOUT):
    """Waits for url to answer 200 (readiness), polling; exits the bench if
    proc dies or timeout passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("bench: %s exited with %d before it was ready" % (what, proc.returncode))
        try:
            if http_get(url, 1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)  # poll interval of a readiness wait, not a synchronisation
    sys.exit("bench: %s not ready after %d s" % (what, timeout))


def wait_log(path, text, proc, what, timeout=READY_TIMEOUT):
    """Waits for a line containing text in the log file path (a process's
    own statement that it is ready), polling; exits the bench if proc dies
    or timeout passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, errors="replace") as f:
            if any(text in line for line in f):
                return
        if proc.poll() is not None:
            sys.exit("bench: %s exited with %d before it was ready" % (what, proc.returncode))
        time.sleep(0.02)  # poll interval of a readiness wait, not a synchronisation
    sys.exit("bench: %s did not log %r within %d s" % (what, text, timeout))


def read_line(proc, what, timeout=READY_TIMEOUT):
    """The next line of proc's stdout (a pipe), waiting at most timeout;
    exits the bench on timeout or end of file."""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            sys.exit("bench: %s printed nothing within %d s" % (what, timeout))
    line = proc.stdout.readline()
    if not line:
        sys.exit("bench: %s exited (%s) before it was ready" % (what, proc.wait()))
    return line


def bpf_fds(pid, key):
    """Values of the key (prog_id, map_id, link_id) lines in the fdinfo of
    pid's BPF file descriptors: what that process holds."""
    ids = []
    d = "/proc/%d/fdinfo" % pid
    try:
        names = os.listdir(d)
    except OSError:
        return ids
    for fd in names:
        try:
            with open(os.path.join(d, fd)) as f:
                for line in f:
                    if line.startswith(key + ":"):
                        ids.append(int(line.split()[1]))
                        break
        except (OSError, ValueError):
            continue
    return ids


def build_tools():
    os.makedirs(OUT, exist_ok=True)
    # floor_loader attaches the OpenSSL probes with the exporter's own code
    objs = ["core/array.o", "core/log.o", "ident/proc.o", "kernel/elf_sym.o", "kernel/tls_attach.o",
            "kernel/uprobe_multi.o"]
    extra = {"floor_loader": ["-I" + os.path.join(ROOT, d) for d in ("user", "include")] +
             [os.path.join(ROOT, "build", "user", o) for o in objs],
             "loadgen": ["-lssl", "-lcrypto"]}
    for name in ("floor_loader", "loadgen"):
        src = os.path.join(ROOT, "tests", "bench", name + ".c")
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o",
                        os.path.join(OUT, name), src] + extra[name] +
                       ["-lbpf", "-lelf", "-lz", "-lpthread"], check=True)


def count_progs(objs):
    """BPF programs in object files: their global functions (the static
    ones are inlined), as bpftool prog show will list them loaded."""
    n = 0
    for obj in objs:
        out = subprocess.run(["readelf", "-sW", obj], capture_output=True, text=True)
        if out.returncode:
            return None
        n += sum(1 for line in out.stdout.splitlines()
                 if len(line.split()) >= 8 and line.split()[3:5] == ["FUNC", "GLOBAL"]
                 and line.split()[6] != "UND")
    return n


def expected_progs():
    """The floor's and the exporter's program counts, from their objects:
    a program added to the exporter meanwhile must not make every round
    look spoilt. The floor should match the exporter."""
    exp = sorted(os.path.join(ROOT, "build", f[:-2] + ".o")
                 for f in os.listdir(os.path.join(ROOT, "bpf"))
                 if f.endswith(".bpf.c") and f != "floor.bpf.c")
    n_exp, n_floor = count_progs(exp), count_progs([FLOOR_OBJ])
    if n_exp is not None:
        PROGS_EXPECTED["exporter"] = PROGS_EXPECTED["alt"] = n_exp
    if n_floor is not None:
        PROGS_EXPECTED["floor"] = n_floor
    if PROGS_EXPECTED["floor"] != PROGS_EXPECTED["exporter"]:
        warn("the floor has %d programs, the exporter %d: bpf/floor.bpf.c does not match "
             "the exporter's hooks" % (PROGS_EXPECTED["floor"], PROGS_EXPECTED["exporter"]))


def make_cert(tmp):
    """A self-signed EC certificate for the TLS measurements."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


# ------------------------------------------------------- other activity

def bpf_progs():
    """Tracing programs loaded now (tracepoint, tp_btf and the like)."""
    out = subprocess.run([BPFTOOL, "-j", "prog", "show"], capture_output=True, text=True)
    if out.returncode:
        return []
    return [p for p in json.loads(out.stdout or "[]")
            if p.get("type") in ("tracepoint", "tracing", "raw_tracepoint", "kprobe",
                                 "perf_event")]


def cpu_ticks():
    """pid -> (parent pid, user+system clock ticks) of every user-space
    process."""
    procs = {}
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
        procs[int(pid)] = (int(f[1]), int(f[11]) + int(f[12]))
    return procs


def foreign(before, after, seconds):
    """Activity of processes that are not ours (not descendants of this
    one) in between: the share of one CPU they used, the busiest of them,
    and those that started."""
    me = os.getpid()

    def ours(pid):
        for _ in range(64):
            if pid == me:
                return True
            if pid not in after:
                return False
            pid = after[pid][0]
        return False

    others = [pid for pid in after if not ours(pid)]
    used = {pid: after[pid][1] - before.get(pid, (0, 0))[1] for pid in others}
    share = sum(used.values()) / os.sysconf("SC_CLK_TCK") / max(seconds, 1e-3)
    top = max(used, key=used.get) if used else None
    started = [pid for pid in others if pid not in before]
    return share, top, started


def spoiler(before, after, seconds, during):
    """Why other activity spoils a measurement, or None."""
    n = len(bpf_progs())
    if n != PROGS_EXPECTED[during]:
        return "%d tracing BPF programs loaded during '%s' (expected %d)" % (
            n, during, PROGS_EXPECTED[during])
    share, top, started = foreign(before, after, seconds)
    if started:
        return "processes started by others during '%s' (%s)" % (during, cmdline(started[0]))
    if share >= FOREIGN_CPU_MAX:
        return "other processes used %.0f%% of a CPU during '%s' (busiest: %s)" % (
            100 * share, during, cmdline(top))
    return None


def cpu_ns(pid):
    """CPU time of every thread of pid so far, in ns."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
    except OSError:
        pass
    return total


def proc_comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:60]
    except (OSError, TypeError):
        return "?"


def wait_quiet(limit):
    """Waits, up to limit seconds, for no foreign tracing program and no
    busy foreign process; returns whether the machine is quiet."""
    deadline = time.monotonic() + limit
    while True:
        before, t0 = cpu_ticks(), time.monotonic()
        time.sleep(1)  # the window in which others' CPU use is measured, not a synchronisation
        if not spoiler(before, cpu_ticks(), time.monotonic() - t0, "base"):
            return True
        if time.monotonic() > deadline:
            return False


# ------------------------------------------------------------ configurations

class Config:
    def __init__(self, name):
        self.name = name
        self.proc = None
        self.port = None
        self.log = None  # an exporter's stderr, in TMP

    def start(self):
        """Starts the configuration and returns once it is ready: the floor
        loader has said "ready N" and holds N BPF links (its programs are
        attached); an exporter answers /health with 200 (every required
        program attached) and has logged that it serves, which it does
        once its start-up scan of the connections open before it is done.
        """
        if self.name == "floor":
            self.proc = spawn([os.path.join(OUT, "floor_loader"), FLOOR_OBJ],
                              stdout=subprocess.PIPE, text=True)
            line = read_line(self.proc, "floor_loader")
            f = line.split()
            if len(f) != 2 or f[0] != "ready" or not f[1].isdigit() or not int(f[1]):
                sys.exit("bench: floor_loader failed (%r)" % line)
            links = len(bpf_fds(self.proc.pid, "link_id"))
            if links != int(f[1]):
                sys.exit("bench: floor_loader said %r but holds %d BPF links" % (line, links))
        elif self.name in EXPORTERS:
            self.port = free_port()
            binary = ALT_EXPORTER if self.name == "alt" else EXPORTER
            self.log = os.path.join(TMP, "%s-%d.log" % (self.name, self.port))
            with open(self.log, "w") as log_file:
                # --log.level=info last: its "serving" line is the readiness
                self.proc = spawn([binary, "--web.listen-address=127.0.0.1:%d" % self.port] +
                                  EXPORTER_ARGS + ["--log.level=info"], stderr=log_file)
            wait_http("http://127.0.0.1:%d/health" % self.port, self.proc, binary)
            wait_log(self.log, "programs attached, serving", self.proc, binary)

    def stop(self):
        if self.proc:
            stop(self.proc)
            if self.proc.returncode not in (0, -signal.SIGTERM):
                warn("%s exited with %s" % (self.name, self.proc.returncode))
        if self.log:
            # what --log.level=warn used to show on the terminal
            with open(self.log, errors="replace") as f:
                for line in f:
                    if "level=warn" in line or "level=error" in line:
                        log("  %s: %s" % (self.name, line.rstrip()))
            os.unlink(self.log)
            self.log = None
        self.proc = None

    def scrape(self):
        """The samples of the running exporter's /metrics as (name, labels,
        value); None when /metrics does not answer (a hung or dead
        exporter)."""
        try:
            _, text = http_get("http://127.0.0.1:%d/metrics" % self.port, 5)
        except (OSError, ValueError):
            return None
        samples = []
        for line in text.splitlines():
            if not line or line[0] == "#":
                continue
            head, _, value = line.rpartition(" ")
            name, _, labels = head.partition("{")
            try:
                samples.append((name, dict(LABEL_RE.findall(labels)), float(value)))
            except ValueError:
                continue
        return samples

    def metric(self, name, **labels):
        """Sum of the samples of a metric whose labels have the values given
        (all of them without labels); None when /metrics does not answer."""
        samples = self.scrape()
        if samples is None:
            return None
        return sum(v for n, lb, v in samples
                   if n == name and all(lb.get(k) == x for k, x in labels.items()))

    def stream_counts(self, service, path):
        """(sse_chunks_streamed_total, sse_requests_total) of the series of
        one service and path, summed over their other labels; None when
        /metrics does not answer."""
        samples = self.scrape()
        if samples is None:
            return None
        got = {"sse_chunks_streamed_total": 0.0, "sse_requests_total": 0.0}
        for n, lb, v in samples:
            if n in got and lb.get("service") == service and lb.get("path") == path:
                got[n] += v
        return got["sse_chunks_streamed_total"], got["sse_requests_total"]

    def wait_streams(self, service, path, before, requests, timeout):
        """Polls until sse_requests_total of the series grew by requests
        (every measured stream ended); returns the growth of (chunks,
        requests) then, or at timeout; None when /metrics does not answer.
        The exporter handles a connection's records in order and a stream
        ends with its last one, so the chunk count is final by then:
        comparing it exactly cannot race with records still queued."""
        deadline = time.monotonic() + timeout
        while True:
            now = self.stream_counts(service, path)
            if now is None or before is None:
                return None
            grown = (now[0] - before[0], now[1] - before[1])
            if grown[1] >= requests or time.monotonic() > deadline:
                return grown
            time.sleep(0.05)  # poll interval of a wait for the streams' end


DIAG_COUNTERS = ["sse_exporter_events_lost_total", "sse_exporter_exchanges_lost_total",
                 "sse_exporter_tls_calls_unattributed_total",
                 "sse_exporter_connections_untracked_total", "sse_exporter_bytes_uncopied_total"]


def diagnosis(cfg, service, path):
    """For a failed tracking check: the exporter's own loss counters (since
    it started, this round), and the path's events counted under another
    service, if any."""
    samples = cfg.scrape()
    if samples is None:
        return "/metrics did not answer"
    got = {n: 0 for n in DIAG_COUNTERS}
    elsewhere = {}
    for n, lb, v in samples:
        if n in got:
            got[n] += v
        elif (n == "sse_chunks_streamed_total" and lb.get("path") == path and
              lb.get("service") != service):
            elsewhere[lb.get("service")] = elsewhere.get(lb.get("service"), 0) + v
    return ", ".join(["%s %d" % (n[len("sse_exporter_"):], v) for n, v in got.items()] +
                     ["%d of the path's events under service=\"%s\"" % (v, sv)
                      for sv, v in sorted(elsewhere.items())])


LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def conn_proto(exporter_pid, pid, fd):
    """proto of (pid, fd) in the conns map of the exporter exporter_pid
    (not another exporter that may run on the host and track it too)."""
    mine = set(bpf_fds(exporter_pid, "map_id"))
    out = subprocess.run([BPFTOOL, "-j", "map", "show"], capture_output=True, text=True)
    ids = [m["id"] for m in json.loads(out.stdout or "[]")
           if m.get("name") == "conns" and m.get("id") in mine]
    if len(ids) != 1:
        return None
    key = [str(b) for b in struct.pack("<Ii", pid, fd)]
    out = subprocess.run([BPFTOOL, "-j", "map", "lookup", "id", str(ids[0]), "key"] + key,
                         capture_output=True, text=True)
    if out.returncode:
        return None
    try:
        return json.loads(out.stdout)["formatted"]["value"]["proto"]
    except (ValueError, KeyError):
        return None


# ------------------------------------------------------------- measurements

def loadgen(args, check=None, path=None):
    """Runs loadgen; returns its figures by name. With check, HOLD=1 and
    check(pid, fd) runs while the measured connection is still open. With
    path (from bench_path()), its requests go to that path."""
    env = dict(os.environ)
    env.pop("HOLD", None)
    if check:
        env["HOLD"] = "1"
    env["LOADGEN_PREFIX"] = path[:-len(API_PATH)] if path else ""
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
            res[f[0]] = float(f[1])  # name median_ns mean_ns: the median
    p.stdin.close()
    p.wait()
    children.remove(p)
    if p.returncode:
        sys.exit("bench: loadgen %s failed (%d)" % (" ".join(args), p.returncode))
    return res


API_PATH = "/v1/chat/completions"


def bench_path(measure):
    """The path, as the exporter labels it, of one measurement's requests."""
    return "/%s/%s%s" % (RUN_TAG, measure, API_PATH)


class Bench:
    def __init__(self, server_port, tls_port, cert, key, server_service, tls_service):
        self.server_port = server_port
        self.tls_port = tls_port  # None: no TLS server
        self.service = {"server": server_service, "tls_server": tls_service}
        self.cert, self.key = cert, key
        self.n_untracked = 300000
        self.n_sse = 200000
        self.n_ssl = 30000
        self.values = {}  # values[measure][config]: one value per kept round
        self.round = {}  # the round in progress
        self.round_label = ""  # "micro round 3", for the failure reasons
        self.flags = {}  # (measure, config) -> problems of an exporter figure
        self.lost = []  # (config, round label, records lost): failures
        self.redone = 0

    def add(self, measure, config, value):
        self.round.setdefault(measure, {})[config] = value

    def commit(self, values):
        for measure, by_config in values.items():
            for config, value in by_config.items():
                self.values.setdefault(measure, {c: [] for c in CONFIGS})[config].append(value)

    def flag(self, measure, config, problem, detail=""):
        """Marks an exporter figure as not measuring what it claims (a
        failure of the bench, whether the round is kept or not); warns, with
        the detail, the first time only."""
        problem = "%s: %s (%s)" % (config, problem, self.round_label)
        if (measure, config) not in self.flags:
            warn("%s: %s%s" % (measure, problem, detail and ": " + detail))
        self.flags.setdefault((measure, config), []).append(problem)

    def metric_timeout(self, measure, config):
        """Once a figure is known not to be tracked, do not wait long for
        a metric that will not grow."""
        return 1 if (measure, config) in self.flags else 10

    def calibrate(self):
        """Loop sizes for MICRO_SECONDS per timed run, without BPF. What
        varies is mostly from one run to the next (a run's batches agree
        closely): many short runs beat a few long ones."""
        r = loadgen(["untracked", "20000"])
        n = int(MICRO_SECONDS * 1e9 / r["socket_write"])
        self.n_untracked = max(20000, n // 1000 * 1000)
        r = loadgen(["sse", "20000"])
        n = int(MICRO_SECONDS * 1e9 / r["sse_event"])
        self.n_sse = max(20000, n // 1000 * 1000)
        # SSL_write with the floor's uprobe: on a nested VM the uprobe is
        # several times the call, so a run sized without it would last
        # seconds. The loop's minimum is 50 batches of 128.
        cfg = Config("floor")
        cfg.start()
        try:
            r = loadgen(["ssl", "6400", self.cert, self.key])
        finally:
            cfg.stop()
        n = int(MICRO_SECONDS * 1e9 / r["ssl_write"])
        self.n_ssl = max(6400, n // 128 * 128)
        log("calibrated: untracked N=%d, sse N=%d, ssl N=%d (%.0f ns/SSL_write with the "
            "floor)" % (self.n_untracked, self.n_sse, self.n_ssl, r["ssl_write"]))

    def run_micro(self, cfg):
        exp = cfg.name in EXPORTERS

        def check_proto(figure, conn, want, want_name):
            """A loadgen check: the connection is in the exporter's conns map as want."""
            def check(pid, fd):
                proto = conn_proto(cfg.proc.pid, pid, fd)
                if proto != want:
                    self.flag(figure, cfg.name,
                              "the %s is not in its conns map as %s (proto=%s)"
                              % (conn, want_name, proto), "the figure does not measure that path")
            return check if exp else None

        r = loadgen(["untracked", str(self.n_untracked)],
                    check_proto("socket_write", "untracked connection", PROTO_OTHER, "PROTO_OTHER"))
        self.add("socket_write", cfg.name, r["socket_write"])
        self.add("devnull_write", cfg.name, r["devnull_write"])
        self.add("devnull_unobserved", cfg.name, r["devnull_unobserved"])

        path = bench_path("sse")
        self.followed(cfg, exp, "sse_event", "sse_event", "sse_events_written", path,
                      "the stream", lambda: loadgen(["sse", str(self.n_sse)], path=path))

        tpath = bench_path("ssl")
        self.followed(cfg, exp, "ssl_write", "ssl_write_p10", "ssl_events_written", tpath,
                      "the TLS stream (SSL_write)",
                      lambda: loadgen(["ssl", str(self.n_ssl), self.cert, self.key],
                                      check_proto("ssl_write", "TLS connection", PROTO_TLS,
                                                  "PROTO_TLS"), path=tpath))

    def followed(self, cfg, exp, figure, result_key, written_key, path, what, run):
        """One loadgen measurement of events on a followed stream (one
        request); for an exporter, its CPU per event is recorded and the
        tracking checked."""
        if exp:
            before = cfg.stream_counts(LOADGEN_SERVICE, path)
            cpu0 = cpu_ns(cfg.proc.pid)
        r = run()
        self.add(figure, cfg.name, r[result_key])
        if not exp:
            return
        written = int(r[written_key])
        grown = cfg.wait_streams(LOADGEN_SERVICE, path, before, 1,
                                 self.metric_timeout(figure, cfg.name))
        self.add("cpu_" + figure, cfg.name, (cpu_ns(cfg.proc.pid) - cpu0) / written)
        self.check_tracked(cfg, figure, LOADGEN_SERVICE, path, grown, written, 1,
                           "events written", what)

    def check_tracked(self, cfg, figure, service, path, grown, events, requests, what_events,
                      what):
        """The exporter followed the measured traffic: in the series of the
        measured process's service and of the bench's own path, and only
        there, sse_chunks_streamed_total grew by exactly the events and
        sse_requests_total by exactly the requests. More is a failure too:
        an exporter that counts twice, or counts other traffic, has not
        measured what the figure claims."""
        if grown is None:
            self.flag(figure, cfg.name, "/metrics did not answer")
            return
        chunks, reqs = int(grown[0]), int(grown[1])
        wrong = []
        if chunks != events:
            wrong.append("sse_chunks_streamed_total grew by %d for %d %s" % (
                chunks, events, what_events))
        if reqs != requests:
            wrong.append("sse_requests_total grew by %d for %d requests" % (reqs, requests))
        if wrong:
            self.flag(figure, cfg.name, ", ".join(wrong),
                      "%s was not followed exactly (series service=\"%s\", path=\"%s\"; %s)"
                      % (what, service, path, diagnosis(cfg, service, path)))

    def run_server(self, cfg):
        self.run_one_server(cfg, "server", "client", self.server_port, SERVER_SECONDS)
        if self.tls_port:
            self.run_one_server(cfg, "tls_server", "tlsclient", self.tls_port,
                                TLS_SERVER_SECONDS)

    def run_one_server(self, cfg, key, mode, port, seconds):
        exp = cfg.name in EXPORTERS
        service, path = self.service[key], bench_path(key.replace("_", ""))
        if exp:
            before = cfg.stream_counts(service, path)
            cpu0 = cpu_ns(cfg.proc.pid)
        r = loadgen([mode, str(port), str(SERVER_CONNS), str(seconds), str(SERVER_EVENTS)],
                    path=path)
        errors = int(r["errors"])
        if errors and not exp:
            warn("%s run (%s): %d request errors" % (key, cfg.name, errors))
        self.add(key, cfg.name, r["events_per_s"])
        if not exp:
            return
        # Each request is read to its end: with no error, the server wrote
        # exactly the events received.
        got, requests = int(r["client_events"]), int(r["requests"])
        grown = cfg.wait_streams(service, path, before, requests + errors,
                                 self.metric_timeout(key, cfg.name))
        self.add("cpu_" + key, cfg.name, (cpu_ns(cfg.proc.pid) - cpu0) / max(got, 1))
        if errors:
            self.flag(key, cfg.name, "%d request errors" % errors,
                      "the events the server wrote are not known: the tracking cannot be "
                      "checked")
            return
        self.check_tracked(cfg, key, service, path, grown, got, requests, "events received",
                           "the server")

    def check_lost(self, cfg):
        """Records lost by the exporter since it started (this round): any
        is a failure of the bench."""
        lost = cfg.metric("sse_exporter_events_lost_total")
        if lost is None:
            self.lost.append((cfg.name, self.round_label, None))
            warn("%s: /metrics did not answer at the end of %s" % (cfg.name, self.round_label))
        elif lost:
            self.lost.append((cfg.name, self.round_label, int(lost)))
            warn("%s lost %d ring buffer records in %s" % (cfg.name, lost, self.round_label))

    def run_round(self, order, work):
        """Returns why the round is spoilt, or None."""
        spoilt = None
        self.round = {}
        for name in order:
            cfg = Config(name)
            cfg.start()
            try:
                # BPF programs are checked before and after: a short e2e
                # test can load and unload an exporter in between, but
                # then it also starts processes.
                before, t0 = cpu_ticks(), time.monotonic()
                spoilt = spoilt or spoiler(before, before, 1, name)
                work(cfg)
                spoilt = spoilt or spoiler(before, cpu_ticks(), time.monotonic() - t0, name)
                if name in EXPORTERS:
                    self.check_lost(cfg)
            finally:
                cfg.stop()
        return spoilt

    def run(self, phase, rounds, work, budget_end):
        """rounds rounds of work(cfg) over the configurations, in an order
        rotated per round. A round spoilt by other activity is redone,
        after a wait for quiet, while the budget allows; one that cannot
        be redone is dropped, unless fewer than MIN_CLEAN_ROUNDS clean
        rounds remain."""
        clean, unredone, n, redos = 0, [], 0, {}
        while clean + len(unredone) < rounds:
            order = CONFIGS[n % len(CONFIGS):] + CONFIGS[:n % len(CONFIGS)]
            n += 1
            k = clean + len(unredone) + 1
            self.round_label = "%s round %d%s" % (
                phase, k, " (redo %d)" % redos[k] if k in redos else "")
            t0 = time.monotonic()
            spoilt = self.run_round(order, work)
            took = time.monotonic() - t0
            log("%s round %d/%d (%s): %.0f s%s" % (
                phase, k, rounds, " ".join(order), took,
                ", spoilt: " + spoilt if spoilt else ""))
            if not spoilt:
                self.commit(self.round)
                clean += 1
                continue
            left = budget_end - time.monotonic()
            if left > took + 5 and wait_quiet(min(30, left - took)):
                self.redone += 1
                redos[k] = redos.get(k, 0) + 1
                log("  redoing the round")
                continue
            unredone.append((spoilt, self.round))
        for i, (reason, values) in enumerate(unredone):
            if clean + i < MIN_CLEAN_ROUNDS:
                self.commit(values)
                warn("%s: a spoilt round is kept (too few clean ones): %s" % (phase, reason))
            else:
                warn("%s: a spoilt round is dropped: %s" % (phase, reason))


# ------------------------------------------------------------------ report

def bootstrap(rounds, stat, n=2000):
    """90% interval of stat over rounds resampled with replacement."""
    rng = random.Random(1)
    idx = range(len(rounds))
    vals = sorted(stat([rounds[rng.choice(idx)] for _ in idx]) for _ in range(n))
    return vals[int(0.05 * n)], vals[int(0.95 * n) - 1]


def ratio_of_medians(pairs):
    """pairs: (exporter added, floor added) per round."""
    f = statistics.median(p[1] for p in pairs)
    return statistics.median(p[0] for p in pairs) / f if f > 0 else float("inf")


def spread(xs):
    """Max minus min, relative to the median, in percent."""
    m = statistics.median(xs)
    return 100.0 * (max(xs) - min(xs)) / m if m else 0.0


def fmt_ratio(x):
    return "%.2f" % x if x != float("inf") else "inf"


def report(b):
    """The report's text, its figures in one line, and the reasons for
    which the bench fails (none: it passes)."""
    lines = []
    out = lines.append
    summary = {}
    misses = []
    nmicro = len(b.values["socket_write"]["base"])
    nserver = len(b.values["server"]["base"]) if "server" in b.values else 0
    out("sse_exporter benchmark: %s alternating, order rotated per round; %d rounds of "
        "micro, %d of server" % (" / ".join(CONFIGS), nmicro, nserver))
    out("added = config ns/op - base ns/op of the same round; medians over rounds; "
        "ratio = exporter added / floor added [90% bootstrap interval]")
    out("")
    hdr = "%-18s %10s %11s %14s %19s %7s  %s" % (
        "measurement", "base ns/op", "floor added", "exporter added", "ratio", "target",
        "result")
    out(hdr)
    out("-" * len(hdr))
    per_round = []
    for title, key, target in MICRO:
        v = b.values[key]
        fa = [f - s for f, s in zip(v["floor"], v["base"])]
        for e in EXPORTERS:
            ea = [x - s for x, s in zip(v[e], v["base"])]
            pairs = list(zip(ea, fa))
            ratio = ratio_of_medians(pairs)
            lo, hi = bootstrap(pairs, ratio_of_medians)
            mark = "*" if (key, e) in b.flags else ""
            result = ("PASS" if ratio <= target else "MISS") + (" (unverified*)" if mark else "")
            name = title if e == "exporter" else "  alt exporter"
            if ratio > target:
                misses.append("%s%s %sx > target %.1fx" % (
                    "" if e == "exporter" else "alt: ", title.strip(), fmt_ratio(ratio), target))
            out("%-18s %10.1f %11.1f %14.1f %6.2fx [%s..%s] %6.1fx  %s" % (
                name, statistics.median(v["base"]), statistics.median(fa),
                statistics.median(ea), ratio, fmt_ratio(lo), fmt_ratio(hi), target, result))
            if e == "exporter":
                summary[key] = "%.2fx%s" % (ratio, mark)
            rr = [fmt_ratio(x / f) if f > 0 else "n/a" for x, f in pairs]
            per_round.append("%-16s base spread %4.1f%%, floor added %.0f..%.0f, %s added "
                             "%.0f..%.0f, ratio per round %s" % (
                                 title, spread(v["base"]), min(fa), max(fa), e, min(ea),
                                 max(ea), " ".join(rr)))
    out("")
    srv = {}
    for title, skey in SERVERS:
        if not len(b.values.get(skey, {}).get("base", [])):
            continue
        v = b.values[skey]
        rel = {c: [100.0 * x / s for x, s in zip(v[c], v["base"])] for c in CONFIGS}
        hdr = "%-18s %10s %11s %14s %19s %7s  %-6s %s" % (
            title, "base ev/s", "floor", "exporter", "floor - exporter", "target", "result",
            "exporter/floor ev/s")
        out(hdr)
        out("-" * len(hdr))
        for e in EXPORTERS:
            pairs = list(zip(rel["floor"], rel[e]))

            def diff(ps):
                return statistics.median(p[0] for p in ps) - statistics.median(p[1] for p in ps)

            def ratio(ps):
                return statistics.median(p[1] / p[0] for p in ps)

            pts = diff(pairs)
            lo, hi = bootstrap(pairs, diff)
            rt = ratio(pairs)
            rlo, rhi = bootstrap(pairs, ratio)
            mark = "*" if (skey, e) in b.flags else ""
            result = ("PASS" if pts <= SERVER_TARGET_POINTS else "MISS") + (
                " (unverified*)" if mark else "")
            if pts > SERVER_TARGET_POINTS:
                misses.append("%s%s throughput %.1fpt below the floor > target %.1fpt" % (
                    "" if e == "exporter" else "alt: ", title, pts, SERVER_TARGET_POINTS))
            out("%-18s %10.0f %10.1f%% %13.1f%% %5.1fpt [%.1f..%.1f] %5.1fpt  %-6s %.3f [%.3f..%.3f]"
                % ("events/s" if e == "exporter" else "  alt exporter",
                   statistics.median(v["base"]), statistics.median(rel["floor"]),
                   statistics.median(rel[e]), pts, lo, hi, SERVER_TARGET_POINTS, result, rt,
                   rlo, rhi))
            if e == "exporter":
                srv[skey] = {"base": statistics.median(v["base"]),
                             "floor": statistics.median(rel["floor"]),
                             "exporter": statistics.median(rel[e]), "ratio": rt,
                             "mark": mark}
        out("  (%s%s, %d keep-alive connections, POST %s?events=%d&"
            "interval_ms=0, %.0f s per run; %% = events/s / base events/s of the same round)"
            % (os.path.relpath(SERVER, ROOT), " under uvicorn with TLS, OpenSSL clients"
               if skey == "tls_server" else "", SERVER_CONNS,
               bench_path(skey.replace("_", "")), SERVER_EVENTS,
               TLS_SERVER_SECONDS if skey == "tls_server" else SERVER_SECONDS))
        per_round.append("%-16s base spread %4.1f%%, %s" % (skey, spread(v["base"]), ", ".join(
            "%s %.1f..%.1f%%" % (c, min(rel[c]), max(rel[c])) for c in CONFIGS[1:])))
        out("")
    for key, what in (("cpu_sse_event", "SSE event written (sse event)"),
                      ("cpu_ssl_write", "SSE event written with SSL_write (ssl write)"),
                      ("cpu_server", "event received (server)"),
                      ("cpu_tls_server", "event received (tls server)")):
        for e in EXPORTERS:
            xs = b.values.get(key, {}).get(e)
            if xs:
                out("%s process: %.0f ns of CPU per %s, median over rounds" % (
                    e, statistics.median(xs), what))
    out("  (user space and ring buffer reading, beside the BPF cost that the measured "
        "process pays in its syscalls)")
    out("")
    out("variance across rounds (spread = (max - min) / median):")
    for line in per_round:
        out("  " + line)
    out("")
    out("per round, ns/op (server: events/s), %s:" % " / ".join(CONFIGS))
    for key in [k for _, k, _ in MICRO] + [k for _, k in SERVERS]:
        if key not in b.values:
            continue
        v = b.values[key]
        cells = ["/".join("%.0f" % x for x in t) for t in zip(*(v[c] for c in CONFIGS))]
        for i in range(0, len(cells), 5):
            out("  %-18s %s" % (key if i == 0 else "", "  ".join(cells[i:i + 5])))
    if b.redone:
        out("")
        out("rounds redone (spoilt by other activity on the machine): %d" % b.redone)
    if b.flags or warnings:
        out("")
        for w in warnings:
            out("WARNING: " + w)
        if b.flags:
            for (key, e), problems in sorted(b.flags.items()):
                out("* %s, %s: not tracked in %d run(s)" % (key, e, len(problems)))
            out("* the exporter did not track this traffic exactly: its figure is meaningless")
    out("")

    def tput(skey):
        if skey not in srv:
            return "not measured"
        t = srv[skey]
        return "baseline=%.0f ev/s floor=%.1f%% exporter=%.1f%% (%.3fx floor)%s" % (
            t["base"], t["floor"], t["exporter"], t["ratio"], t["mark"])

    figures = ("untracked write %s floor, sse event %s floor, ssl write %s floor, "
               "server throughput %s, TLS server throughput %s" % (
                   summary["socket_write"], summary["sse_event"], summary["ssl_write"],
                   tput("server"), tput("tls_server")))
    out("summary: " + figures)

    failures = list(misses)
    for (key, e), problems in sorted(b.flags.items()):
        title = {k: t.strip() for t, k, _ in MICRO}.get(key, dict((k, t) for t, k in SERVERS).get(
            key, key))
        failures.append("%s not tracked: %s%s" % (
            title, problems[0], " and %d more run(s)" % (len(problems) - 1)
            if len(problems) > 1 else ""))
    for name, label, lost in b.lost:
        failures.append("%s/metrics did not answer at the end of %s" % (name, label)
                        if lost is None else "events lost %d in %s (%s)" % (lost, label, name))
    return "\n".join(lines) + "\n", figures, failures


def main():
    os.chdir(ROOT)
    if os.geteuid() != 0:
        sys.exit("bench: needs root (BPF): sudo make bench")
    for path in [EXPORTER, FLOOR_OBJ, SERVER] + ([ALT_EXPORTER] if ALT_EXPORTER else []):
        if not os.path.exists(path):
            sys.exit("bench: %s missing (make all builds the first two)" % path)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    global TMP
    t0 = time.monotonic()
    tmp = TMP = tempfile.mkdtemp(prefix="sse-bench-")
    try:
        build_tools()
        expected_progs()
        cert, key = make_cert(tmp)
        if not wait_quiet(20):
            warn("the machine is not quiet (other tracing BPF programs or busy processes: an "
                 "e2e run?); spoilt rounds are redone while time allows")
        port = free_port()
        server = spawn([PYTHON, SERVER, str(port)], stdout=subprocess.DEVNULL)
        wait_http("http://127.0.0.1:%d/health" % port, server, "FastAPI server")
        # the service label of its series: its process name, as the exporter reads it
        service = proc_comm(server.pid)
        tls_port, tls_service = None, None
        if TLS_SERVER_SECONDS and SERVER_ROUNDS:
            tls_port = free_port()
            server = spawn([PYTHON, SERVER, str(tls_port), cert, key], stdout=subprocess.DEVNULL)
            wait_http("https://127.0.0.1:%d/health" % tls_port, server, "FastAPI TLS server")
            tls_service = proc_comm(server.pid)
        b = Bench(port, tls_port, cert, key, service, tls_service)
        b.calibrate()
        warm = bench_path("warmup")
        loadgen(["client", str(port), str(SERVER_CONNS), "1", str(SERVER_EVENTS)], path=warm)
        if tls_port:
            loadgen(["tlsclient", str(tls_port), str(SERVER_CONNS), "1", str(SERVER_EVENTS)],
                    path=warm)
        # The micro phase may spend its share of the budget on redone rounds.
        share = 0.4 if SERVER_ROUNDS else 1.0
        b.run("micro", ROUNDS, b.run_micro, t0 + BUDGET_SECONDS * share)
        if SERVER_ROUNDS:
            b.run("server", SERVER_ROUNDS, b.run_server, t0 + BUDGET_SECONDS)
        text, figures, failures = report(b)
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    # The last line is the verdict, with its reasons; a failure exits 1.
    verdict = ("bench: FAIL: " + "; ".join(failures) if failures else
               "bench: PASS: " + figures)
    log("")
    sys.stdout.write(text)
    with open(os.path.join(OUT, "results.txt"), "w") as f:
        f.write(text + "\n" + verdict + "\n")
    log("(%.0f s; table in build/bench/results.txt)" % (time.monotonic() - t0))
    log(verdict)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
