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

Measurements (build/bench/loadgen, from tests/bench/loadgen.c). Its plain
HTTP clients send their requests with splice(2), which the exporter does
not hook, so that it sees the servers' side only, as with clients on
other hosts (a client end it saw would be an upstream call, its response
copied to user space for usage and correlation: a cost of its own, not
the servers'):

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
  redis GET        a Redis client's GETs of a missing key to a real
                   redis-server (Debian's, on loopback), pipelined 16 at
                   a time: one write of 16 commands, then their 16 nil
                   replies read; ns per command (skipped when
                   redis-server is not installed)
  server           events/s that concurrent C clients receive from the
                   FastAPI server tests/e2e/servers/fastapi_sse.py
  tls server       the same with the server under uvicorn with TLS (a
                   self-signed certificate made with the openssl CLI) and
                   C clients over GnuTLS, which the exporter does not hook,
                   their records sent with splice(2) as the plain clients'
                   requests: their connections are not followed (PROTO_OTHER
                   from their first read on), the server's side only
  Go server        events/s that one epoll client receives from the e2e
                   tests' Go net/http server (tests/e2e/servers/go_sse,
                   built into build/bench) at full rate (nodelay=1: events
                   back to back, one write each): 50 streams of 1000
                   events and 500 of 100 at once, read to their ends,
                   three times in a row; then 500 streams of one event
                   (for the BPF run time per stream)
  scale            once, after the rounds, an exporter alone: its RSS idle,
                   with 10,000 streams of the Go server held open by
                   loadgen (each once its first event arrived, the
                   exporter's sse_active_connections grown by 10,000), and
                   after they closed (sse_active_connections and the conns
                   map back to where they were, then the RSS unchanged for
                   2.5 s: the sweep trims the heap every 2 s); the time of
                   GET /metrics with them open, median of 9. The Go server
                   and loadgen get an open file limit for them (checked
                   against fs.nr_open)

In the micro measurements loadgen runs on one CPU (the last; the
exporter, the floor and the servers are not pinned), in every
configuration alike: its writes, the drain of the client end and the
loopback's softirq work then stay on that CPU, and the BPF run time of
one build stops depending on where the scheduler put it (docs/design.md,
"A pinned micro bench").

For the micro measurements, a configuration's added cost is its ns/op
minus the base ns/op of the same round; the figure is the median over
rounds of the exporter's added cost divided by the median of the floor's.
For the servers, each configuration's events/s is divided by the base of
the same round and the figure is the difference of the medians, in points;
beside it, the median over rounds of exporter events/s / floor events/s.
Under each server's table, the exporter's direct cost in the same points:
its programs' run time per event over the floor's plus its process's CPU
per event, times the base's events/s, over the machine's CPUs (what it
would take if the server and its clients were CPU-bound), and the time
per event the target leaves at that rate: an estimate from figures that
hold where the wall clock does not. Of
wall-clock times, only ratios of one run are reported, never single
absolute times; the BPF run times, CPU per event, RSS and scrape time
below are absolute. [lo..hi] after a figure is a 90% bootstrap interval
over the rounds: how far the figure can be trusted.

BPF run time: the run sets kernel.bpf_stats_enabled=1 (the old value is
restored at exit, also on failure or signal), so that the kernel times
every program run; both the floor and the exporter pay for the timing.
Around each measurement (loadgen's "mark begin" and "mark end" around
the measured writes, or a whole server run), bpftool prog show gives
run_time_ns and run_cnt of the programs that the exporter or floor_loader
holds through its file descriptors. These figures hold where wall clock
does not: a program's run time leaves out what moves a syscall's (other
processes, scheduling, the rest of the syscall's path), though host steal
can still land in it:

  sse event        all the exporter's programs' run time per event written
                   (loadgen's reads that drain the client end included:
                   about one per 90 events), target <= 250 ns; and its
                   process's CPU (utime+stime, from schedstat, to the
                   stream's end in its metrics) per event, target <= 100 ns
  untracked write  ns per call of write's programs (its exit's; an older
                   build's enter and exit), the exporter's minus the
                   floor's (empty programs), target <= 40 ns
  redis GET        all the exporter's programs' run time per command (no
                   target: reported)
  Go short streams all the exporter's programs' run time per stream of one
                   event (accept, request, head, end, close; loadgen's
                   connect too, on this host): no target, reported
  Go keep-alive    the same, ten streams one after the other on each
                   connection (a gateway behind a proxy's pool): what a
                   stream costs without its connection's accept and close

then, per measurement, a table of the programs that ran (at least once per
100 operations): ns per call of the exporter's and the floor's, and per
operation. The run time of the other processes' calls in the same window
counts too, which a busy machine raises a little.

The exporter really followed what was measured, or its figure means
nothing; checked in every round, for each exporter configuration:

  - the untracked connection is in that exporter's kernel store (found
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
  - redis GET: sse_cache_misses_total of service loadgen grew by exactly
    the commands sent;
  - sse_exporter_events_lost_total is 0 at the end of the exporter's part
    of the round (a new exporter per round: any record lost meanwhile).

Verdict: the last line printed is "bench: PASS: <targets>" or "bench:
FAIL: <reasons> | <targets>", <targets> every target's figure and PASS or
MISS; reasons are MISSes, a figure not tracked exactly (the scale phase's
too), records lost, and in which round; a failure exits with status 1. A
setup failure (a process not ready in time, loadgen failing) exits at
once with a "bench: ..." line. Spoilt rounds (below) are no failure.

No fixed sleep synchronises anything: the servers are ready when /health
answers 200; the floor once floor_loader printed "ready N" and holds N
BPF links; an exporter once /health answers 200 (all its programs
attached) and it logged "... programs attached, serving" (its start-up
scan of existing connections is done by then; it runs with
--log.level=info, its warnings and errors are shown when it stops);
loadgen says when a connection is held open for the map checks, when
its measured writes begin and end (marks), and when the scale phase's
streams are all open, which the exporter's gauge must then show. The
remaining time.sleep()s are poll intervals of those waits, with
timeouts, and wait_quiet()'s measurement window.

Other activity on the machine (another exporter or e2e run loading BPF
programs, busy processes) spoils a round: it is redone while the time
budget allows, else dropped while enough clean rounds remain. On a loaded
machine, where rounds last longer, a phase stops after 3 rounds if more
would end past its share of the budget.

Run as root from the repository (make bench does); stdlib only. About
3.5 minutes, under 5 with redone rounds or a loaded machine.
Environment: BENCH_ROUNDS (5), BENCH_SERVER_ROUNDS (5),
BENCH_SERVER_SECONDS (2), BENCH_TLS_SERVER_SECONDS (1.5; 0 skips the TLS
server), BENCH_SERVER_CONNS (4), BENCH_SERVER_EVENTS (200),
BENCH_GO_STREAMS ("50x1000 500x100": groups of CONNSxEVENTS),
BENCH_GO_REPEAT (3), BENCH_SCALE_STREAMS (10000; 0 skips the scale phase),
BENCH_BUDGET_SECONDS (250: by then the rounds end, the micro ones by 45 %
of it; the scale phase follows), BENCH_EXPORTER_ARGS (extra exporter options; --log.level=info
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
import resource
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
GO_SERVER_SRC = os.path.join(ROOT, "tests", "e2e", "servers", "go_sse")
BPFTOOL = "/usr/sbin/bpftool"
PYTHON = "/usr/bin/python3"
OPENSSL = "/usr/bin/openssl"
GO = "/usr/bin/go"
BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled"

ROUNDS = int(os.environ.get("BENCH_ROUNDS", 5))
MICRO_SECONDS = 0.5  # per timed loop: runs, not their length, average the noise out
MICRO_CPU = max(os.sched_getaffinity(0))  # loadgen's one CPU in the micro measurements
SERVER_ROUNDS = int(os.environ.get("BENCH_SERVER_ROUNDS", 5))
SERVER_SECONDS = float(os.environ.get("BENCH_SERVER_SECONDS", 2))
SERVER_CONNS = int(os.environ.get("BENCH_SERVER_CONNS", 4))
SERVER_EVENTS = int(os.environ.get("BENCH_SERVER_EVENTS", 200))
TLS_SERVER_SECONDS = float(os.environ.get("BENCH_TLS_SERVER_SECONDS", 1.5))
GO_GROUPS = os.environ.get("BENCH_GO_STREAMS", "50x1000 500x100").split()
GO_REPEAT = int(os.environ.get("BENCH_GO_REPEAT", 3))
SHORT_STREAMS = "500x1"  # the Go server's streams of one event: the cost per stream
KEEPALIVE_STREAMS = "500x1x10"  # the same, ten in a row on each keep-alive connection
STREAM_RUNS = (("go_short", SHORT_STREAMS), ("go_keepalive", KEEPALIVE_STREAMS))
SCALE_STREAMS = int(os.environ.get("BENCH_SCALE_STREAMS", 10000))
SCRAPES = 9  # at SCALE_STREAMS open streams; their median counts
BUDGET_SECONDS = float(os.environ.get("BENCH_BUDGET_SECONDS", 250))
MIN_CLEAN_ROUNDS = 3  # below this, spoilt rounds are kept (with a warning)

CONFIGS = ["base", "floor", "exporter"] + (["alt"] if ALT_EXPORTER else [])
EXPORTERS = [c for c in CONFIGS if c in ("exporter", "alt")]
PROGS_EXPECTED = {"base": 0, "floor": 26, "exporter": 26, "alt": 26}  # see count_progs()
PROTO_OTHER, PROTO_TLS = 2, 4  # include/conn_event.h

# title, key, target ratio of the exporter's added cost to the floor's
# (None: reported, no target)
MICRO = [
    ("untracked write", "socket_write", 1.2),
    ("/dev/null write", "devnull_write", 1.2),
    ("  unobserved proc", "devnull_unobserved", 1.2),
    ("sse event", "sse_event", 2.0),
    ("ssl write (p10)", "ssl_write", 1.1),
    ("redis GET", "redis_get", None),
]
# title, key, target: events/s of the servers, exporter at most target
# points of base below the floor
SERVERS = [("server (FastAPI)", "server", 2.0), ("TLS server", "tls_server", 2.0),
           ("Go server", "go_server", 3.0)]
# BPF run time (bpf_stats) and the exporter's CPU, upper bounds
BPF_SSE_EVENT_NS = 250  # all the exporter's programs, per SSE event written
CPU_SSE_EVENT_NS = 100  # the exporter process, per SSE event written
BPF_UNTRACKED_NS = 40  # write's programs, per call, over the floor's
# bpf/sock_io.bpf.c (the default build has no enter_write); the floor's: floor_ + these
WRITE_PROGS = ("enter_write", "exit_write")
RSS_MAX_MB = 64  # the exporter, SCALE_STREAMS streams open
SCRAPE_MAX_MS = 5.0  # GET /metrics then, median
REDIS_SERVER = shutil.which("redis-server")
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

def spawn(argv, nofile=None, cpu=None, **kw):
    """Starts argv, with its open file limit (soft and hard) raised to
    nofile if given, on CPU cpu alone if given."""
    def setup():
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
    p = subprocess.Popen(argv, cwd=ROOT, preexec_fn=setup, **kw)
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
             "loadgen": ["-lssl", "-lcrypto", "-lgnutls"]}
    for name in ("floor_loader", "loadgen"):
        src = os.path.join(ROOT, "tests", "bench", name + ".c")
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o",
                        os.path.join(OUT, name), src] + extra[name] +
                       ["-lbpf", "-lelf", "-lz", "-lpthread"], check=True)
    # The e2e tests' Go server (tests/e2e/launch.py builds it the same
    # way), its caches kept in build/bench: no module proxy, no $HOME.
    env = dict(os.environ, GOCACHE=os.path.join(OUT, "gocache"),
               GOPATH=os.path.join(OUT, "gopath"), GO111MODULE="off")
    subprocess.run([GO, "build", "-o", os.path.join(OUT, "go_sse"), "main.go"],
                   cwd=GO_SERVER_SRC, env=env, check=True)


def count_progs(objs):
    """BPF programs in object files: their global functions outside .text
    (the static ones are inlined; a global one in .text is a subprogram
    that programs call, e.g. to keep the verifier's work down), as bpftool
    prog show will list them loaded."""
    n = 0
    for obj in objs:
        out = subprocess.run(["readelf", "-SsW", obj], capture_output=True, text=True)
        if out.returncode:
            return None
        text = re.search(r"^\s*\[\s*(\d+)\]\s+\.text\s", out.stdout, re.M)
        n += sum(1 for line in out.stdout.splitlines()
                 if len(line.split()) >= 8 and line.split()[3:5] == ["FUNC", "GLOBAL"]
                 and line.split()[6] not in ("UND", text and text.group(1)))
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


def rss_mb(pid):
    """Resident memory of pid, in MB: (all, anonymous). All includes the
    pages of the BPF ring buffer that it has mapped and read."""
    kb = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon"):
                kb[k] = int(v.split()[0])
    return kb["VmRSS"] / 1024.0, kb["RssAnon"] / 1024.0


def settled_rss_mb(pid, timeout):
    """rss_mb(pid) once its anonymous part has stayed the same for a sweep
    interval and a margin (2.5 s), or at timeout. No record tells when
    user space has freed the last connection whose close it read, and the
    sweep gives the freed heap back (malloc_trim once the table shrank)
    every 2 s: read at once, the figure varied by 13 MB between two runs;
    read after half a second without change, 11 MB above idle, where a
    probe of the same phase read idle again one second after the close."""
    deadline = time.monotonic() + timeout
    last, same = rss_mb(pid), 0
    while same < 25 and time.monotonic() < deadline:
        time.sleep(0.1)  # the interval of the readings that must agree
        now = rss_mb(pid)
        same = same + 1 if now[1] == last[1] else 0
        last = now
    return last


def nofile_needed():
    """The open file limit for the processes that hold SCALE_STREAMS
    connections (the Go server and loadgen), checked against what the
    kernel allows (fs.nr_open)."""
    need = SCALE_STREAMS + 4096
    with open("/proc/sys/fs/nr_open") as f:
        if int(f.read()) < need:
            sys.exit("bench: fs.nr_open is below the %d open files %d streams need"
                     % (need, SCALE_STREAMS))
    return need


# ------------------------------------------------------ BPF run times

def enable_bpf_stats():
    """kernel.bpf_stats_enabled=1 for the run (the kernel then times every
    program run); returns the old value, which main() restores."""
    with open(BPF_STATS) as f:
        old = f.read().strip()
    with open(BPF_STATS, "w") as f:
        f.write("1")
    return old


def restore_bpf_stats(old):
    if old is not None:
        with open(BPF_STATS, "w") as f:
            f.write(old)


def prog_stats(pid):
    """name -> (run_time_ns, run_cnt) of the BPF programs that pid holds
    (through its file descriptors, not another exporter's), the floor's
    names without their "floor_": the names of the exporter's programs on
    the same hooks."""
    ids = set(bpf_fds(pid, "prog_id"))
    out = subprocess.run([BPFTOOL, "-j", "prog", "show"], capture_output=True, text=True)
    stats = {}
    for p in json.loads(out.stdout or "[]") if not out.returncode else []:
        if p.get("id") in ids:
            name = p.get("name", "?")
            name = name[len("floor_"):] if name.startswith("floor_") else name
            t, c = stats.get(name, (0, 0))
            stats[name] = (t + p.get("run_time_ns", 0), c + p.get("run_cnt", 0))
    return stats


class ProgWindow:
    """The run time of a configuration's programs between begin() and
    end(), or between loadgen's "mark begin" and "mark end" with
    mark as its marks callback: delta, name -> (ns, runs) of the programs
    that ran."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.start = None
        self.delta = None

    def begin(self):
        self.start = prog_stats(self.cfg.proc.pid)

    def end(self):
        now = prog_stats(self.cfg.proc.pid)
        self.delta = {n: (t - self.start.get(n, (0, 0))[0], c - self.start.get(n, (0, 0))[1])
                      for n, (t, c) in now.items() if c > self.start.get(n, (0, 0))[1]}

    def mark(self, where):
        {"begin": self.begin, "end": self.end}[where]()


def scrape_ms(port):
    """One GET /metrics, from connect to its last byte, in ms."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        while s.recv(1 << 16):
            pass
    return 1000 * (time.monotonic() - t0)


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

    def conns_tracked(self):
        """The connections in the kernel's maps, once the exporter has
        published their number (housekeeping does, each second); None if it
        has not within READY_TIMEOUT."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            for n, lb, v in self.scrape() or []:
                if n == "sse_exporter_map_entries" and lb.get("map") == "conns":
                    return v
            time.sleep(0.1)  # poll interval of a wait for the exporter's count
        return None

    def wait_metric(self, name, until, timeout, **labels):
        """Polls metric (as metric()) until until(value) holds or timeout
        passes; returns its last value, None when /metrics does not
        answer."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.metric(name, **labels)
            if v is None or until(v) or time.monotonic() > deadline:
                return v
            time.sleep(0.1)  # poll interval of a wait for the exporter's count

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


def map_value(ids, name, key):
    """The formatted value of key (bytes) in the map called name among
    ids, or None."""
    ids = [m["id"] for m in ids if m.get("name") == name]
    if len(ids) != 1:
        return None
    out = subprocess.run([BPFTOOL, "-j", "map", "lookup", "id", str(ids[0]), "key"] +
                         [str(b) for b in key], capture_output=True, text=True)
    if out.returncode:
        return None
    try:
        return json.loads(out.stdout)["formatted"]["value"]
    except (ValueError, KeyError):
        return None


GATE_BITS = 16  # CONN_GATE_BITS, include/conn_event.h


def conn_proto(exporter_pid, pid, fd):
    """proto of (pid, fd) in the kernel's store of the exporter
    exporter_pid (not another exporter that may run on the host and track
    it too): its slot's line of conn_slots if it owns it, else the conns
    hash (bpf/conn_store.bpf.h)."""
    mine = set(bpf_fds(exporter_pid, "map_id"))
    out = subprocess.run([BPFTOOL, "-j", "map", "show"], capture_output=True, text=True)
    maps = [m for m in json.loads(out.stdout or "[]") if m.get("id") in mine]
    word = pid << 32 | (fd & 0xffffffff)
    slot = ((word * 0x9e3779b97f4a7c15) & (2**64 - 1)) >> (64 - GATE_BITS)
    line = map_value(maps, "conn_slots", struct.pack("<I", slot))
    if line and line.get("owner") == word:
        return line["info"]["proto"]
    info = map_value(maps, "conns", struct.pack("<Ii", pid, fd))
    return info.get("proto") if info else None


# ------------------------------------------------------------- measurements

def loadgen(args, check=None, path=None, marks=None, nofile=None, cpu=None):
    """Runs loadgen; returns its figures by name. With check, HOLD=1 and
    check(pid, fd) runs while the measured connection is still open. With
    path (from bench_path()), its requests go to that path. With marks,
    MARKS=1 and marks(where) runs at each of loadgen's "mark where" (hold
    mode marks "held" without it). nofile: its open file limit; cpu: the
    one CPU it runs on (MICRO_CPU), if given."""
    env = dict(os.environ)
    for var, on in (("HOLD", check), ("MARKS", marks)):
        env.pop(var, None)
        if on:
            env[var] = "1"
    env["LOADGEN_PREFIX"] = path[:-len(API_PATH)] if path else ""
    p = spawn([os.path.join(OUT, "loadgen")] + args, nofile=nofile, cpu=cpu,
              stdin=subprocess.PIPE,
              stdout=subprocess.PIPE, text=True, env=env)
    res = {}
    for line in p.stdout:
        f = line.split()
        if f[0] in ("hold", "mark"):
            if f[0] == "hold":
                check(int(f[1]), int(f[2]))
            else:
                marks(f[1])
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


def micro_loadgen(args, *more, **kw):
    """loadgen() on MICRO_CPU alone: every micro measurement, in every
    configuration alike."""
    return loadgen(args, *more, cpu=MICRO_CPU, **kw)


API_PATH = "/v1/chat/completions"


def bench_path(measure):
    """The path, as the exporter labels it, of one measurement's requests."""
    return "/%s/%s%s" % (RUN_TAG, measure, API_PATH)


class Bench:
    def __init__(self, ports, services, cert, key, nofile):
        self.ports = ports  # by server key (SERVERS); the TLS server's None: not run
        self.service = services  # the service label of each server's series
        self.cert, self.key = cert, key
        self.nofile = nofile  # for loadgen's hold mode
        self.scale = {}  # the scale phase's figures
        self.n_untracked = 300000
        self.n_sse = 200000
        self.n_ssl = 30000
        self.n_redis = 64000
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

    def window(self, cfg):
        """A ProgWindow for a configuration that has BPF programs, else None."""
        return ProgWindow(cfg) if cfg.name != "base" else None

    def add_bpf(self, figure, cfg, w, ops):
        """The run time of cfg's programs in window w, over ops operations
        (events, writes) of figure."""
        if w and w.delta is not None:
            self.add("bpf_" + figure, cfg.name, {"ops": ops, "progs": w.delta})

    def metric_timeout(self, measure, config):
        """Once a figure is known not to be tracked, do not wait long for
        a metric that will not grow."""
        return 1 if (measure, config) in self.flags else 10

    def calibrate(self):
        """Loop sizes for MICRO_SECONDS per timed run, without BPF. What
        varies is mostly from one run to the next (a run's batches agree
        closely): many short runs beat a few long ones."""
        r = micro_loadgen(["untracked", "20000"])
        n = int(MICRO_SECONDS * 1e9 / r["socket_write"])
        self.n_untracked = max(20000, n // 1000 * 1000)
        r = micro_loadgen(["sse", "20000"])
        n = int(MICRO_SECONDS * 1e9 / r["sse_event"])
        self.n_sse = max(20000, n // 1000 * 1000)
        # SSL_write with the floor's uprobe: on a nested VM the uprobe is
        # several times the call, so a run sized without it would last
        # seconds. The loop's minimum is 50 batches of 128.
        cfg = Config("floor")
        cfg.start()
        try:
            r = micro_loadgen(["ssl", "6400", self.cert, self.key])
        finally:
            cfg.stop()
        n = int(MICRO_SECONDS * 1e9 / r["ssl_write"])
        self.n_ssl = max(6400, n // 128 * 128)
        ssl_ns = r["ssl_write"]
        if self.ports["redis"]:
            r = micro_loadgen(["redis", str(self.ports["redis"]), "16000"])
            self.n_redis = max(16000, int(MICRO_SECONDS * 1e9 / r["redis_get"]) // 800 * 800)
        log("calibrated: untracked N=%d, sse N=%d, ssl N=%d (%.0f ns/SSL_write with the "
            "floor), redis N=%d" % (self.n_untracked, self.n_sse, self.n_ssl, ssl_ns,
                                    self.n_redis))

    def run_micro(self, cfg):
        exp = cfg.name in EXPORTERS

        def check_proto(figure, conn, want, want_name):
            """A loadgen check: the connection is in the exporter's conns map as want."""
            def check(pid, fd):
                proto = conn_proto(cfg.proc.pid, pid, fd)
                if proto != want:
                    self.flag(figure, cfg.name,
                              "the %s is not in its kernel store as %s (proto=%s)"
                              % (conn, want_name, proto), "the figure does not measure that path")
            return check if exp else None

        w = self.window(cfg)
        r = micro_loadgen(["untracked", str(self.n_untracked)],
                          check_proto("socket_write", "untracked connection", PROTO_OTHER,
                                      "PROTO_OTHER"), marks=w and w.mark)
        self.add("socket_write", cfg.name, r["socket_write"])
        self.add("devnull_write", cfg.name, r["devnull_write"])
        self.add("devnull_unobserved", cfg.name, r["devnull_unobserved"])
        self.add_bpf("socket_write", cfg, w, r["socket_writes"])

        path = bench_path("sse")
        self.followed(cfg, exp, "sse_event", "sse_event", "sse_events_written", path,
                      "the stream",
                      lambda marks: micro_loadgen(["sse", str(self.n_sse)], path=path,
                                                  marks=marks))

        tpath = bench_path("ssl")
        self.followed(cfg, exp, "ssl_write", "ssl_write_p10", "ssl_events_written", tpath,
                      "the TLS stream (SSL_write)",
                      lambda marks: micro_loadgen(["ssl", str(self.n_ssl), self.cert, self.key],
                                                  check_proto("ssl_write", "TLS connection",
                                                              PROTO_TLS, "PROTO_TLS"),
                                                  path=tpath, marks=marks))
        if self.ports["redis"]:
            self.run_redis(cfg, exp)

    def run_redis(self, cfg, exp):
        """The pipelined GETs; for an exporter, each command must show as a
        cache miss of loadgen's service, exactly."""
        misses = "sse_cache_misses_total"
        before = cfg.metric(misses, service=LOADGEN_SERVICE) if exp else None
        w = self.window(cfg)
        r = micro_loadgen(["redis", str(self.ports["redis"]), str(self.n_redis)],
                          marks=w and w.mark)
        sent = int(r["redis_commands"])
        self.add("redis_get", cfg.name, r["redis_get"])
        self.add_bpf("redis_get", cfg, w, sent)
        if not exp:
            return
        after = None if before is None else cfg.wait_metric(
            misses, lambda v: v >= before + sent, self.metric_timeout("redis_get", cfg.name),
            service=LOADGEN_SERVICE)
        if after is None or after - before != sent:
            self.flag("redis_get", cfg.name, "%s grew by %s for %d GETs of a missing key" % (
                misses, "?" if after is None else int(after - before), sent))

    def followed(self, cfg, exp, figure, result_key, written_key, path, what, run):
        """One loadgen measurement of events on a followed stream (one
        request), run(marks); the run time of the programs between its
        marks is recorded; for an exporter, its CPU per event too, and the
        tracking is checked."""
        if exp:
            before = cfg.stream_counts(LOADGEN_SERVICE, path)
            cpu0 = cpu_ns(cfg.proc.pid)
        w = self.window(cfg)
        r = run(w and w.mark)
        self.add(figure, cfg.name, r[result_key])
        self.add_bpf(figure, cfg, w, r[written_key])
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
        for mode, key, seconds in (("client", "server", SERVER_SECONDS),
                                   ("tlsclient", "tls_server", TLS_SERVER_SECONDS)):
            if self.ports[key]:
                self.run_one_server(cfg, key, [mode, str(self.ports[key]), str(SERVER_CONNS),
                                               str(seconds), str(SERVER_EVENTS)])
        self.run_one_server(cfg, "go_server", ["streams", str(self.ports["go_server"]),
                                               str(GO_REPEAT)] + GO_GROUPS)
        # streams of one event: the programs' run time per stream (accept,
        # request, head, end, close; loadgen's connect on this host), at
        # the Go phase's 500 streams of 100 events about as much as the
        # events'; then on keep-alive connections, without the accept and
        # close; reported, no target
        for key, groups in STREAM_RUNS:
            self.run_one_server(cfg, key, ["streams", str(self.ports["go_server"]), "1", groups],
                                server="go_server")

    def run_one_server(self, cfg, key, args, server=None):
        """One loadgen run of args against a server (key's, else server's):
        figure key's events/s, the run time of the programs meanwhile, and
        for an exporter its CPU per event and the tracking check."""
        exp = cfg.name in EXPORTERS
        service, path = self.service[server or key], bench_path(key.replace("_", ""))
        if exp:
            before = cfg.stream_counts(service, path)
            cpu0 = cpu_ns(cfg.proc.pid)
        w = self.window(cfg)
        if w:
            w.begin()
        r = loadgen(args, path=path)
        if w:
            w.end()
        self.add_bpf(key, cfg, w, r["client_events"])
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

    def run_scale(self):
        """The exporter's memory and scrape time with SCALE_STREAMS streams
        of the Go server open, once after the rounds: one exporter, no
        floor or base (absolute figures, not ratios). Each count is waited
        for in the exporter's sse_active_connections."""
        self.round_label = "the scale phase"
        service, sc = self.service["go_server"], self.scale
        cfg = Config("exporter")
        cfg.start()
        try:
            cfg.scrape()  # what a first scrape allocates is part of idle
            sc["idle"] = rss_mb(cfg.proc.pid)
            active0 = cfg.metric("sse_active_connections", service=service) or 0
            conns0 = cfg.conns_tracked()

            def held(_where):
                seen = cfg.wait_metric("sse_active_connections",
                                       lambda v: v >= active0 + SCALE_STREAMS, READY_TIMEOUT,
                                       service=service)
                sc["seen"] = (seen or 0) - active0
                sc["open"] = rss_mb(cfg.proc.pid)
                sc["scrape_ms"] = [scrape_ms(cfg.port) for _ in range(SCRAPES)]
                sc["render_ms"] = 1000 * (cfg.metric("sse_exporter_scrape_duration_seconds") or 0)

            r = loadgen(["hold", str(self.ports["go_server"]), str(SCALE_STREAMS)],
                        path=bench_path("hold"), marks=held, nofile=self.nofile)
            if int(r["requests"]) != SCALE_STREAMS:
                sys.exit("bench: loadgen held %d of %d streams (%d errors)" % (
                    r["requests"], SCALE_STREAMS, r["errors"]))
            left = cfg.wait_metric("sse_active_connections", lambda v: v <= active0,
                                   READY_TIMEOUT, service=service)
            conns = None if conns0 is None else cfg.wait_metric(
                "sse_exporter_map_entries", lambda v: v <= conns0, READY_TIMEOUT, map="conns")
            sc["closed"] = settled_rss_mb(cfg.proc.pid, READY_TIMEOUT)
            if sc["seen"] != SCALE_STREAMS:
                self.flag("scale", cfg.name, "sse_active_connections grew by %d for %d streams "
                          "held open" % (sc["seen"], SCALE_STREAMS))
            if left is None or left > active0:
                self.flag("scale", cfg.name, "sse_active_connections %s, not %d, once the "
                          "streams closed" % (left, active0))
            if conns0 is None or conns is None or conns > conns0:
                self.flag("scale", cfg.name, "the conns map held %s connections, not %s, once "
                          "the streams closed" % (conns, conns0))
            self.check_lost(cfg)
        finally:
            cfg.stop()

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
        after a wait for quiet, in the time that the budget leaves beyond
        the rounds still to run; one that cannot be redone is dropped,
        unless fewer than MIN_CLEAN_ROUNDS clean rounds remain. Once
        MIN_CLEAN_ROUNDS are done, no round starts that would end past the
        budget (on a loaded machine, rounds last longer)."""
        clean, unredone, n, redos, longest = 0, [], 0, {}, 0
        while clean + len(unredone) < rounds:
            done = clean + len(unredone)
            if done >= MIN_CLEAN_ROUNDS and time.monotonic() + longest > budget_end:
                warn("%s: %d rounds of %d, the time budget is spent" % (phase, done, rounds))
                break
            order = CONFIGS[n % len(CONFIGS):] + CONFIGS[:n % len(CONFIGS)]
            n += 1
            k = clean + len(unredone) + 1
            self.round_label = "%s round %d%s" % (
                phase, k, " (redo %d)" % redos[k] if k in redos else "")
            t0 = time.monotonic()
            spoilt = self.run_round(order, work)
            took = time.monotonic() - t0
            longest = max(longest, took)
            log("%s round %d/%d (%s): %.0f s%s" % (
                phase, k, rounds, " ".join(order), took,
                ", spoilt: " + spoilt if spoilt else ""))
            if not spoilt:
                self.commit(self.round)
                clean += 1
                continue
            spare = budget_end - time.monotonic() - took * (rounds - done)
            if spare > 5 and wait_quiet(min(30, spare - 5)):
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


class Report:
    """The report's lines, and the targets with their result: (text for
    the summary line, met)."""

    def __init__(self, b):
        self.b = b
        self.lines = []
        self.targets = []
        self.per_round = []  # the variance lines

    def out(self, line=""):
        self.lines.append(line)

    def target(self, name, value, met, bound, mark=""):
        """A target's result; returns PASS or MISS for the tables."""
        result = "PASS" if met else "MISS"
        self.targets.append(("%s %s%s %s (%s)" % (name, value, mark, result, bound), met))
        return result + (" (unverified*)" if mark else "")

    def mark(self, key, e):
        return "*" if (key, e) in self.b.flags else ""


def exporter_label(title, e):
    return title if e == "exporter" else "alt: " + title.strip()


def report_micro(r):
    b = r.b
    hdr = "%-18s %10s %11s %14s %19s %7s  %s" % (
        "measurement", "base ns/op", "floor added", "exporter added", "ratio", "target",
        "result")
    r.out(hdr)
    r.out("-" * len(hdr))
    for title, key, target in MICRO:
        if key not in b.values:
            continue  # redis GET without redis-server
        v = b.values[key]
        fa = [f - s for f, s in zip(v["floor"], v["base"])]
        for e in EXPORTERS:
            ea = [x - s for x, s in zip(v[e], v["base"])]
            pairs = list(zip(ea, fa))
            ratio = ratio_of_medians(pairs)
            lo, hi = bootstrap(pairs, ratio_of_medians)
            if target is None:
                result, bound = "reported" + r.mark(key, e), "      -"
            else:
                result = r.target(exporter_label(title.strip(), e) + " wall",
                                  fmt_ratio(ratio) + "x", ratio <= target,
                                  "<= %.1fx floor" % target, r.mark(key, e))
                bound = "%6.1fx" % target
            r.out("%-18s %10.1f %11.1f %14.1f %6.2fx [%s..%s] %s  %s" % (
                title if e == "exporter" else "  alt exporter", statistics.median(v["base"]),
                statistics.median(fa), statistics.median(ea), ratio, fmt_ratio(lo),
                fmt_ratio(hi), bound, result))
            rr = [fmt_ratio(x / f) if f > 0 else "n/a" for x, f in pairs]
            r.per_round.append("%-16s base spread %4.1f%%, floor added %.0f..%.0f, %s added "
                               "%.0f..%.0f, ratio per round %s" % (
                                   title, spread(v["base"]), min(fa), max(fa), e, min(ea),
                                   max(ea), " ".join(rr)))
    r.out("")


def bpf_windows(b, key, config):
    """The program run times of each kept round: {"ops", "progs"}."""
    return b.values.get("bpf_" + key, {}).get(config, [])


def per_op(w, names=None):
    """ns of the programs (all, or those named) per operation of a window."""
    return sum(t for n, (t, _) in w["progs"].items() if names is None or n in names) / w["ops"]


def per_call(w, names):
    """ns per run of each program named that ran, summed; None if none did
    (the default build has no enter_write, an older alt exporter has)."""
    calls = [w["progs"].get(n, (0, 0)) for n in names]
    return sum(t / c for t, c in calls if c) if any(c for _, c in calls) else None


def ran(windows, names):
    """Those of names that ran in any of the windows, joined for a label."""
    return " + ".join(n for n in names if any(w["progs"].get(n, (0, 0))[1] for w in windows)) or "none"


def median_interval(xs):
    """Median and its 90% bootstrap interval."""
    return (statistics.median(xs),) + bootstrap(xs, statistics.median)


def sse_event_target(r, e, what, xs, bound, text):
    """A per-event target of exporter e on the sse event measurement: the
    median of xs over rounds against bound; text says what it counts."""
    if not xs:
        return
    m, lo, hi = median_interval(xs)
    result = r.target(exporter_label("sse event", e) + " " + what, "%.0f ns/event" % m,
                      m <= bound, "<= %d" % bound, r.mark("sse_event", e))
    r.out("  sse event, %s: %s %.0f ns per event written [%.0f..%.0f], target <= %d ns: %s" % (
        e, text, m, lo, hi, bound, result))


def report_bpf(r):
    """The targets on the BPF run times (bpf_stats) and the exporter's CPU."""
    b = r.b
    r.out("BPF run time (kernel.bpf_stats_enabled: run_time_ns / run_cnt of the programs that "
          "the exporter, or floor_loader, holds), medians over rounds [90% interval]:")
    floor = [per_op(w) for w in bpf_windows(b, "sse_event", "floor")]
    for e in EXPORTERS:
        sse_event_target(r, e, "BPF", [per_op(w) for w in bpf_windows(b, "sse_event", e)],
                         BPF_SSE_EVENT_NS, "all its programs (the floor's %s)" % (
                             "%.0f" % statistics.median(floor) if floor else "n/a"))
        sse_event_target(r, e, "CPU", b.values.get("cpu_sse_event", {}).get(e),
                         CPU_SSE_EVENT_NS, "its process's CPU (utime+stime)")
    fw = [per_call(w, WRITE_PROGS) for w in bpf_windows(b, "socket_write", "floor")]
    for e in EXPORTERS:
        windows = bpf_windows(b, "socket_write", e)
        ew = [per_call(w, WRITE_PROGS) for w in windows]
        pairs = [(x, f) for x, f in zip(ew, fw) if x is not None and f is not None]
        if not pairs:
            warn("untracked write, %s: %s did not run in every configuration" % (
                e, " or ".join(WRITE_PROGS)))
            r.target(exporter_label("untracked write", e) + " BPF", "n/a", False,
                     "<= +%d ns" % BPF_UNTRACKED_NS)
            continue

        def diff(ps):
            return statistics.median(p[0] for p in ps) - statistics.median(p[1] for p in ps)

        d = diff(pairs)
        lo, hi = bootstrap(pairs, diff)
        result = r.target(exporter_label("untracked write", e) + " BPF", "%+.0f ns/call" % d,
                          d <= BPF_UNTRACKED_NS, "<= +%d" % BPF_UNTRACKED_NS,
                          r.mark("socket_write", e))
        r.out("  untracked write, %s: %s %.0f ns per call, the floor's %.0f: %+.0f ns "
              "[%+.0f..%+.0f], target <= +%d ns: %s" % (
                  e, ran(windows, WRITE_PROGS), statistics.median(p[0] for p in pairs),
                  statistics.median(p[1] for p in pairs), d, lo, hi, BPF_UNTRACKED_NS, result))
    report_bpf_redis(r)
    report_bpf_streams(r)
    r.out("")


def bpf_reported(r, key):
    """Per exporter, for a measurement without a target: the median over
    rounds of all its programs' run time per operation, its 90% interval,
    and the floor's median."""
    floor = [per_op(w) for w in bpf_windows(r.b, key, "floor")]
    for e in EXPORTERS:
        xs = [per_op(w) for w in bpf_windows(r.b, key, e)]
        if xs and floor:
            yield (e,) + median_interval(xs) + (statistics.median(floor),)


def report_bpf_streams(r):
    """All the programs' run time per short stream of the Go server, on
    a connection of its own and on keep-alive ones."""
    for key, groups in STREAM_RUNS:
        for e, m, lo, hi, floor in bpf_reported(r, key):
            r.out("  Go server, %s: all its programs %.1f us per stream of one event (%s) "
                  "[%.1f..%.1f], the floor's %.1f%s" % (e, m / 1000, groups, lo / 1000, hi / 1000,
                                                         floor / 1000, r.mark(key, e)))


def report_bpf_redis(r):
    """All the programs' run time per pipelined Redis command."""
    for e, m, lo, hi, floor in bpf_reported(r, "redis_get"):
        r.out("  redis GET, %s: all its programs %.0f ns per command [%.0f..%.0f], the "
              "floor's %.0f%s" % (e, m, lo, hi, floor, r.mark("redis_get", e)))


# title, key, what an operation is: the per-program tables
BPF_TABLES = [("untracked write", "socket_write", "write"),
              ("sse event", "sse_event", "event written"),
              ("ssl write", "ssl_write", "SSL_write"),
              ("redis GET", "redis_get", "command"),
              ("server (FastAPI)", "server", "event received"),
              ("TLS server", "tls_server", "event received"),
              ("Go server", "go_server", "event received"),
              ("Go short streams", "go_short", "stream of one event"),
              ("Go keep-alive streams", "go_keepalive", "stream of one event")]
MIN_CALLS_PER_OP = 0.01  # programs that ran less often are left out of the tables


def prog_figures(windows, name):
    """Medians over rounds of (ns per call, ns per op, calls per op) of one
    program; ns per call None if it never ran."""
    runs = [w["progs"].get(name, (0, 0)) for w in windows]
    calls = [t / c for t, c in runs if c]
    return (statistics.median(calls) if calls else None,
            statistics.median(t / w["ops"] for (t, _), w in zip(runs, windows)),
            statistics.median(c / w["ops"] for (_, c), w in zip(runs, windows)))


def report_prog_tables(r):
    b = r.b
    configs = EXPORTERS + ["floor"]
    for title, key, op in BPF_TABLES:
        windows = {c: bpf_windows(b, key, c) for c in configs}
        if not all(windows.values()):
            continue
        names = set(n for ws in windows.values() for w in ws for n in w["progs"])
        fig = {c: {n: prog_figures(windows[c], n) for n in names} for c in configs}
        rows = sorted((n for n in names if max(fig[c][n][2] for c in configs) >= MIN_CALLS_PER_OP),
                      key=lambda n: -fig["exporter"][n][1])
        cols = "".join(" %13s %13s" % (c + " ns/call", c + " ns/op") for c in configs)
        hdr = "  %-22s%s %9s" % ("program", cols, "calls/op")
        r.out("%s: per program, medians over rounds (op: %s)" % (title, op))
        r.out(hdr)
        for n in rows:
            r.out("  %-22s%s %9.3f" % (n, "".join(
                " %13s %13.1f" % ("%.1f" % fig[c][n][0] if fig[c][n][0] is not None else "-",
                                  fig[c][n][1]) for c in configs), fig["exporter"][n][2]))
        r.out("  %-22s%s" % ("all programs", "".join(
            " %13s %13.1f" % ("", statistics.median(per_op(w) for w in windows[c]))
            for c in configs)))
        r.out("")


def report_servers(r):
    b = r.b
    what = {"server": "%s, %d keep-alive connections, POST %s?events=%d&interval_ms=0, %.0f s "
                      "per run" % (os.path.relpath(SERVER, ROOT), SERVER_CONNS,
                                   bench_path("server"), SERVER_EVENTS, SERVER_SECONDS),
            "tls_server": "the same under uvicorn with TLS, GnuTLS clients, %.1f s per run"
                          % TLS_SERVER_SECONDS,
            "go_server": "%s, streams %s at once, read to their ends, %d times in a row, POST "
                         "%s?events=N&interval_ms=0&nodelay=1" % (
                             os.path.relpath(GO_SERVER_SRC, ROOT), " + ".join(GO_GROUPS),
                             GO_REPEAT, bench_path("goserver"))}
    for title, skey, target in SERVERS:
        if not len(b.values.get(skey, {}).get("base", [])):
            continue
        v = b.values[skey]
        rel = {c: [100.0 * x / s for x, s in zip(v[c], v["base"])] for c in CONFIGS}
        hdr = "%-18s %10s %11s %14s %19s %7s  %-6s %s" % (
            title, "base ev/s", "floor", "exporter", "floor - exporter", "target", "result",
            "exporter/floor ev/s")
        r.out(hdr)
        r.out("-" * len(hdr))
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
            result = r.target(exporter_label(title, e) + " events/s",
                              "%+.1fpt vs floor (%.3fx)" % (-pts, rt), pts <= target,
                              ">= -%.0fpt" % target, r.mark(skey, e))
            r.out("%-18s %10.0f %10.1f%% %13.1f%% %5.1fpt [%.1f..%.1f] %5.1fpt  %-6s %.3f "
                  "[%.3f..%.3f]" % ("events/s" if e == "exporter" else "  alt exporter",
                                    statistics.median(v["base"]),
                                    statistics.median(rel["floor"]), statistics.median(rel[e]),
                                    pts, lo, hi, target, result, rt, rlo, rhi))
        r.out("  (%s; %% = events/s / base events/s of the same round)" % what[skey])
        for e in EXPORTERS:
            direct_cost(r, skey, e, statistics.median(v["base"]), target)
        r.per_round.append("%-16s base spread %4.1f%%, %s" % (skey, spread(v["base"]), ", ".join(
            "%s %.1f..%.1f%%" % (c, min(rel[c]), max(rel[c])) for c in CONFIGS[1:])))
        r.out("")


def direct_cost(r, skey, e, base_rate, target):
    """What exporter e's programs (over the floor's) and its process take of
    the machine's CPUs per event received, in points of the base's events/s
    if the server and its clients were CPU-bound: beside the wall-clock
    figure, which the host's noise moves, an estimate from the figures the
    bench resolves; and the time per event the target leaves at that rate."""
    b = r.b
    bpf = {c: [per_op(w) for w in bpf_windows(b, skey, c)] for c in ("floor", e)}
    cpu = b.values.get("cpu_" + skey, {}).get(e)
    if not bpf["floor"] or not bpf[e] or not cpu:
        return
    ncpu = len(os.sched_getaffinity(0))
    over = statistics.median(bpf[e]) - statistics.median(bpf["floor"])
    own = statistics.median(cpu)
    pts = 100.0 * (over + own) * base_rate / (ncpu * 1e9)
    r.out("  %s: its programs %.0f ns per event over the floor's, its process %.0f ns: %.1fpt "
          "of %d CPUs at %.0f ev/s (the target's %.0fpt by CPU share: %.0f ns per event)" % (
              e, over, own, pts, ncpu, base_rate, target, target * ncpu * 1e9 / (100 * base_rate)))


def report_cpu(r):
    b = r.b
    for key, what in (("cpu_ssl_write", "SSE event written with SSL_write (ssl write)"),
                      ("cpu_server", "event received (server)"),
                      ("cpu_tls_server", "event received (tls server)"),
                      ("cpu_go_server", "event received (Go server)")):
        for e in EXPORTERS:
            xs = b.values.get(key, {}).get(e)
            if xs:
                r.out("%s process: %.0f ns of CPU per %s, median over rounds" % (
                    e, statistics.median(xs), what))
    r.out("  (user space and ring buffer reading, beside the BPF cost that the measured "
          "process pays in its syscalls)")
    r.out("")


def report_scale(r):
    sc = r.b.scale
    if "open" not in sc:
        return
    n = SCALE_STREAMS
    r.out("exporter with %d streams of the Go server open (loadgen hold; open file limit %d "
          "for both):" % (n, r.b.nofile))
    (idle, idle_anon), (rss, anon), (closed, closed_anon) = sc["idle"], sc["open"], sc["closed"]
    result = r.target("RSS at %dk streams" % (n // 1000), "%.1f MB" % rss, rss < RSS_MAX_MB,
                      "< %d" % RSS_MAX_MB, r.mark("scale", "exporter"))
    r.out("  RSS (anonymous) idle %.1f MB (%.1f), %d open %.1f MB (%.1f; %+.1f KB per stream), "
          "after they closed %.1f MB (%.1f); target < %d MB: %s" % (
              idle, idle_anon, n, rss, anon, 1024 * (rss - idle) / n, closed, closed_anon,
              RSS_MAX_MB, result))
    m = statistics.median(sc["scrape_ms"])
    result = r.target("scrape at %dk streams" % (n // 1000), "%.2f ms" % m, m < SCRAPE_MAX_MS,
                      "< %.0f" % SCRAPE_MAX_MS, r.mark("scale", "exporter"))
    r.out("  GET /metrics %.2f ms, median of %d (%.2f..%.2f; the exporter's own render time "
          "%.2f ms); target < %.0f ms: %s" % (m, len(sc["scrape_ms"]), min(sc["scrape_ms"]),
                                             max(sc["scrape_ms"]), sc["render_ms"],
                                             SCRAPE_MAX_MS, result))
    r.out("")


def report_rounds(r):
    b = r.b
    r.out("variance across rounds (spread = (max - min) / median):")
    for line in r.per_round:
        r.out("  " + line)
    r.out("")
    r.out("per round, ns/op (server: events/s), %s:" % " / ".join(CONFIGS))
    for key in [k for _, k, _ in MICRO] + [k for _, k, _ in SERVERS]:
        if key not in b.values:
            continue
        v = b.values[key]
        cells = ["/".join("%.0f" % x for x in t) for t in zip(*(v[c] for c in CONFIGS))]
        for i in range(0, len(cells), 5):
            r.out("  %-18s %s" % (key if i == 0 else "", "  ".join(cells[i:i + 5])))
    if b.redone:
        r.out("")
        r.out("rounds redone (spoilt by other activity on the machine): %d" % b.redone)
    if b.flags or warnings:
        r.out("")
        for w in warnings:
            r.out("WARNING: " + w)
        if b.flags:
            for (key, e), problems in sorted(b.flags.items()):
                r.out("* %s, %s: not tracked in %d run(s)" % (key, e, len(problems)))
            r.out("* the exporter did not track this traffic exactly: its figure is meaningless")
    r.out("")


def report(b):
    """The report's text, the summary of every target in one line, and the
    reasons for which the bench fails (none: it passes)."""
    r = Report(b)
    nmicro = len(b.values["socket_write"]["base"])
    nserver = len(b.values["server"]["base"]) if "server" in b.values else 0
    r.out("sse_exporter benchmark: %s alternating, order rotated per round; %d rounds of "
          "micro, %d of server" % (" / ".join(CONFIGS), nmicro, nserver))
    r.out("added = config ns/op - base ns/op of the same round; medians over rounds; "
          "ratio = exporter added / floor added [90% bootstrap interval]")
    r.out("micro: loadgen on CPU %d alone, in every configuration" % MICRO_CPU)
    r.out("")
    report_micro(r)
    report_bpf(r)
    report_servers(r)
    report_cpu(r)
    report_scale(r)
    report_prog_tables(r)
    report_rounds(r)

    missed = sum(1 for _, met in r.targets if not met)
    failures = ["%d of %d targets MISS" % (missed, len(r.targets))] if missed else []
    titles = {k: t.strip() for t, k, _ in MICRO + SERVERS}
    for (key, e), problems in sorted(b.flags.items()):
        failures.append("%s not tracked: %s%s" % (
            titles.get(key, key), problems[0], " and %d more run(s)" % (len(problems) - 1)
            if len(problems) > 1 else ""))
    for name, label, lost in b.lost:
        failures.append("%s/metrics did not answer at the end of %s" % (name, label)
                        if lost is None else "events lost %d in %s (%s)" % (lost, label, name))
    return "\n".join(r.lines) + "\n", "; ".join(t for t, _ in r.targets), failures


def start_servers(cert, key, nofile):
    """The FastAPI server, its TLS twin (unless skipped) and the Go server,
    each once /health answers; their ports and services (process names, as
    the exporter labels their series), by key of SERVERS. The Go server
    gets nofile open files: it holds the scale phase's streams."""
    specs = [("server", [PYTHON, SERVER], []), ("go_server", [os.path.join(OUT, "go_sse")], [])]
    if TLS_SERVER_SECONDS and SERVER_ROUNDS:
        specs.append(("tls_server", [PYTHON, SERVER], [cert, key]))
    ports, services = {"tls_server": None, "redis": None}, {}
    if REDIS_SERVER:
        ports["redis"] = start_redis()
    for skey, argv, tls_args in specs:
        port = free_port()
        proc = spawn(argv + [str(port)] + tls_args, stdout=subprocess.DEVNULL,
                     nofile=nofile if skey == "go_server" else None)
        wait_http("%s://127.0.0.1:%d/health" % ("https" if tls_args else "http", port), proc,
                  skey)
        ports[skey], services[skey] = port, proc_comm(proc.pid)
    return ports, services


def start_redis():
    """A redis-server on a free loopback port, without persistence, once it
    answers PING; its port."""
    port = free_port()
    proc = spawn([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--dir", TMP], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("bench: redis-server exited with %d before it was ready" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return port
        except OSError:
            pass
        time.sleep(0.05)  # poll interval of a readiness wait, not a synchronisation
    sys.exit("bench: redis-server not ready after %d s" % READY_TIMEOUT)


def warm_up(ports):
    """One short run against each server before the rounds."""
    warm = bench_path("warmup")
    for mode, skey in (("client", "server"), ("tlsclient", "tls_server")):
        if ports[skey]:
            loadgen([mode, str(ports[skey]), str(SERVER_CONNS), "1", str(SERVER_EVENTS)],
                    path=warm)
    loadgen(["streams", str(ports["go_server"]), "1"] + GO_GROUPS, path=warm)


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
    old_stats = None
    try:
        old_stats = enable_bpf_stats()
        build_tools()
        expected_progs()
        cert, key = make_cert(tmp)
        if not wait_quiet(10):
            warn("the machine is not quiet (other tracing BPF programs or busy processes: an "
                 "e2e run?); spoilt rounds are redone while time allows")
        nofile = nofile_needed()
        ports, services = start_servers(cert, key, nofile)
        b = Bench(ports, services, cert, key, nofile)
        b.calibrate()
        warm_up(ports)
        # The micro phase may spend its share of the budget on redone rounds.
        share = 0.45 if SERVER_ROUNDS else 1.0
        b.run("micro", ROUNDS, b.run_micro, t0 + BUDGET_SECONDS * share)
        if SERVER_ROUNDS:
            b.run("server", SERVER_ROUNDS, b.run_server, t0 + BUDGET_SECONDS)
        if SCALE_STREAMS:
            b.run_scale()
        text, summary, failures = report(b)
    finally:
        stop_all()
        restore_bpf_stats(old_stats)
        shutil.rmtree(tmp, ignore_errors=True)
    # The last line is the verdict and the summary of every target; a
    # failure exits 1.
    verdict = ("bench: FAIL: %s | %s" % ("; ".join(failures), summary) if failures else
               "bench: PASS: " + summary)
    log("")
    sys.stdout.write(text)
    with open(os.path.join(OUT, "results.txt"), "w") as f:
        f.write(text + "\n" + verdict + "\n")
    log("(%.0f s; table in build/bench/results.txt)" % (time.monotonic() - t0))
    log(verdict)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
