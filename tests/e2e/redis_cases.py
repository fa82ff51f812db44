"""Redis traffic of observed services (docs/metrics.md, "Redis traffic of
observed services"; issue 15): L2 cache hits and misses, queue produce
outcomes and depth, command latency, from real clients of a real Redis.

Fixture (one per group): Debian's redis-server under a comm of its own
(isolated.alias), with a private directory and no persistence, listening
on a free loopback port (never 6379: the exporter must know RESP by its
content), on a TLS port with the run's certificate (tls.py), and on a unix
socket; ready once PING answers PONG on each. An exporter of its own, with
no selection (a selection by executable would race with each client's
exec).

Each case runs one client as a process of its own under a comm of its own,
so the `service` label is that case's alone and every expected value is
exact: servers/redis_client.py (redis-py, python3-redis) in the scenario
the case names, servers/redis_node_client.js (ioredis from npm,
scripts/setup.sh), or redis-cli --pipe (hiredis inside) fed a file of
commands. The clients print their ground truth (what the library
returned: hits, misses, produce attempts, successes, failures by reason,
the last push reply per key, commands sent and a bound on their
latencies); redis-cli prints its count of replies and errors, and the
file's commands are chosen so that each reply is known. The Redis server's
own service must count none of it: a command is counted once, on the
client's side.
"""
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import checks
import isolated
import launch
import metrics
import procs
import redis_cli
import tls
from checks import gauge, inc
from framework import Group, expect

REDIS_SERVER, REDIS_CLI = "/usr/bin/redis-server", "/usr/bin/redis-cli"
NODE_MODULES = launch.REPO / "build" / "e2e-node" / "node_modules"
HITS, MISSES = "sse_cache_hits_total", "sse_cache_misses_total"
ATTEMPTS, SUCCESS = "sse_queue_produce_attempts_total", "sse_queue_produce_success_total"
FAILURES, DEPTH = "sse_queue_produce_failures_total", "sse_queue_depth"
DURATION = "sse_redis_command_duration_seconds"
UNPAIRED = "sse_exporter_redis_unpaired_total"   # connections whose pairing was lost
LOWEST_BUCKET = 0.0001   # seconds: the histogram's first bound
CLIENT_TIMEOUT = 60.0


def gateway_truth(ns):
    """What the gateway scenario does on a fresh namespace, whatever the
    transport: 30 requests over 12 prompts, one LPUSH per miss."""
    return {"hits": 18, "misses": 12, "attempts": 12, "successes": 12, "failures": {},
            "depth": {ns + ":queue:jobs": 12}, "commands": {"GET": 30, "LPUSH": 12}}


def plan_done(truth, ns):
    plan = gateway_truth(ns)
    return {k: truth[k] for k in plan} == plan


def send_ping(sock):
    with sock:
        sock.settimeout(2.0)
        sock.sendall(b"PING\r\n")
        return sock.recv(64) == b"+PONG\r\n"


def wait_ping(child, connect, what, timeout=15.0):
    """Poll until connect() gives a socket on which PING answers PONG."""
    deadline = time.monotonic() + timeout
    last = "never tried"
    while time.monotonic() < deadline:
        expect(child.alive(), "redis-server exited (%s) before %s was ready:\n%s",
               child.popen.returncode, what, child.tail())
        try:
            if send_ping(connect()):
                return
            last = "PING not answered PONG"
        except OSError as e:
            last = str(e)
        time.sleep(0.02)
    expect(False, "redis-server not ready on %s after %.0f s (%s):\n%s", what, timeout, last, child.tail())


class Redis:
    def __init__(self, tmp):
        self.tmp = tmp
        uid = isolated.short_uid()
        self.service = "rds-" + uid     # the server's comm
        self.dir = Path(tmp) / ("redis-" + uid)
        self.dir.mkdir()
        self.ca, key = tls.cert_files(tmp)
        self.port, self.tls_port = procs.free_port(), procs.free_port()
        self.socket = self.dir / "redis.sock"
        self.exporter = isolated.in_background(isolated.start_exporter, tmp, "redis", [])
        argv = [isolated.alias(tmp, REDIS_SERVER, self.service), "--port", self.port, "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--unixsocket", self.socket, "--unixsocketperm", "700",
                "--tls-port", self.tls_port, "--tls-cert-file", self.ca, "--tls-key-file", key,
                "--tls-ca-cert-file", self.ca, "--tls-auth-clients", "no"]
        self.child = procs.spawn(self.service, list(map(str, argv)), tmp)
        try:
            ctx = tls.client_context(tmp)
            wait_ping(self.child, lambda: socket.create_connection(("127.0.0.1", self.port)), "its port")
            wait_ping(self.child, lambda: ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.tls_port)),
                                                          server_hostname=tls.SERVER_NAME), "its TLS port")
            wait_ping(self.child, lambda: self.unix_socket(), "its unix socket")
        except (Exception, KeyboardInterrupt):
            self.stop()
            raise

    def unix_socket(self):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(str(self.socket))
        except OSError:
            s.close()
            raise
        return s

    def exp(self):
        exp = isolated.joined(*self.exporter, timeout=60.0)
        expect(exp.child.alive(), "the group's exporter died (exit status %s):\n%s",
               exp.child.popen.returncode, exp.child.tail())
        return exp

    def stop(self):
        procs.stop(self.child)
        thread, out = self.exporter
        thread.join()
        if "value" in out:
            out["value"].stop()


def service_name(tag):
    """A comm of the case's own: at most 15 bytes."""
    return "r%s-%s" % (tag[:8], isolated.short_uid())


def run_client(fx, service, interpreter, argv, env=None, stdin=None, status=0):
    """Runs interpreter (as `service`) with argv; returns its stdout once
    it exited with `status`."""
    cmd = [str(isolated.alias(fx.tmp, interpreter, service))] + list(map(str, argv))
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=CLIENT_TIMEOUT, env=env)
    expect(proc.returncode == status, "ground truth: %s exited with %d: %s", service, proc.returncode,
           (proc.stderr or proc.stdout).decode(errors="replace")[-2000:])
    return proc.stdout.decode()


def python_client(fx, service, scenario, ns, target=None, cafile=None):
    argv = [launch.SERVERS / "redis_client.py", scenario, target or fx.port, ns] + ([cafile] if cafile else [])
    return json.loads(run_client(fx, service, launch.PYTHON, argv))


def expectations(fx, service, truth):
    """Every family's change for the client's service, as its ground truth
    says; none for the Redis server's; no connection left unpaired."""
    svc, queue = {"service": service}, {"service": service, "queue_type": "redis"}
    out = [inc(HITS, truth["hits"], tier="L2", **svc), inc(MISSES, truth["misses"], tier="L2", **svc),
           inc(ATTEMPTS, truth["attempts"], **queue), inc(SUCCESS, truth["successes"], **queue),
           inc(FAILURES, sum(truth["failures"].values()), **queue)]
    out += [inc(FAILURES, n, reason=reason, **queue) for reason, n in truth["failures"].items()]
    out += [gauge(DEPTH, depth, queue_name=key, **svc) for key, depth in truth["depth"].items()]
    out += [inc(DURATION + "_count", n, command=command, **svc) for command, n in truth["commands"].items()]
    out += [latency_bound(service, command, bound, truth["commands"][command])
            for command, bound in truth.get("seconds", {}).items()]
    out += [inc(name, 0, service=fx.service) for name in (HITS, MISSES, ATTEMPTS, SUCCESS, FAILURES,
                                                           DURATION + "_count")]
    return out + [inc(UNPAIRED, 0)]


def latency_bound(service, command, bound, n):
    """The latencies' sum is above 0 and within the client's own times of
    the calls (each command's write and reply read happen inside its call;
    1 us per command for rounding)."""
    limit = bound + 1e-6 * n
    return checks.Expect(DURATION + "_sum", {"service": service, "command": command},
                         lambda d: 0 < d <= limit, "+= in (0, %s]" % checks.fmt(limit))


def settle(fx, before, service, truth):
    """The client's counts as its ground truth says, and no queue_name but
    those it pushed to."""
    after = fx.exp().settle(before, expectations(fx, service, truth))
    queues = {dict(lbl).get("queue_name") for lbl in metrics.select(after, DEPTH, service=service)}
    expect(queues == set(truth["depth"]), "sse_queue_depth{service=%s} has queues %s, want %s", service,
           sorted(queues), sorted(truth["depth"]))
    return after


def scenario_case(scenario, tag=None, unix=False):
    """A case running redis_client.py's `scenario` on the plaintext port,
    or the unix socket."""
    def case(fx):
        before = fx.exp().scrape()
        service = service_name(tag or scenario)
        target = "unix:%s" % fx.socket if unix else None
        settle(fx, before, service, python_client(fx, service, scenario, (tag or scenario).replace("_", ""),
                                                  target))
    case.__doc__ = "redis_client.py's %s scenario%s, counted as its ground truth says." % (
        scenario, " over the unix socket" if unix else "")
    return case


def check_gateway(fx, tag, target=None, cafile=None):
    before = fx.exp().scrape()
    service, ns = service_name(tag), tag
    truth = python_client(fx, service, "gateway", ns, target, cafile)
    expect(plan_done(truth, ns), "ground truth: the gateway did %r, not %r", truth, gateway_truth(ns))
    return settle(fx, before, service, truth), service


def case_gateway(fx):
    """The seeds' gateway on redis-py, plain cache-aside: GET (18 hits, 12
    misses), SETEX and LPUSH on a miss; the latency histogram's first
    bound is 0.1 ms."""
    after, service = check_gateway(fx, "gateway")
    bounds = {float(dict(lbl)["le"]) for lbl in metrics.select(after, DURATION + "_bucket", service=service,
                                                                command="GET")}
    expect(bounds and min(bounds) == LOWEST_BUCKET, "%s{command=\"GET\"} has bounds %s, the first should be %s",
           DURATION, sorted(bounds), LOWEST_BUCKET)


def case_gateway_tls(fx):
    """The same gateway over rediss:// (redis-py ssl=True, Debian's
    libssl.so.3): the same counts as in plaintext."""
    check_gateway(fx, "gwtls", fx.tls_port, fx.ca)


def case_gateway_unix(fx):
    """The same gateway over the unix socket (redis-py's
    unix_socket_path): the same counts as over TCP."""
    check_gateway(fx, "gwunix", "unix:%s" % fx.socket)


def wait_adopted(exp, timeout=10.0):
    """Once the exporter logged its scan of /proc (it answers /health
    before it scans)."""
    deadline = time.monotonic() + timeout
    while "opened before start" not in exp.child.tail(200):
        expect(time.monotonic() < deadline, "the exporter never scanned /proc:\n%s", exp.child.tail())
        time.sleep(0.02)


def adopted_case(tag, unix):
    """The gateway's connection opened before an exporter of its own
    (selecting the client's pid) started: its commands from then on are
    counted exactly, over TCP or the unix socket (/proc/net/unix)."""
    def case(fx):
        service, ns = service_name(tag), tag
        target = "unix:%s" % fx.socket if unix else fx.port
        cmd = [str(isolated.alias(fx.tmp, launch.PYTHON, service)), str(launch.SERVERS / "redis_client.py"),
               "gateway", str(target), ns]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ, REDIS_HOLD="1"))
        exp = None
        try:
            expect(proc.stdout.readline() == b"ready\n", "ground truth: %s never connected: %s", service,
                   proc.stderr.read().decode(errors="replace") if proc.poll() is not None else "")
            exp = isolated.start_exporter(fx.tmp, "redis-" + tag, ["--pid=%d" % proc.pid])
            wait_adopted(exp)
            before = exp.scrape()
            out, err = proc.communicate(b"go\n", timeout=CLIENT_TIMEOUT)
            expect(proc.returncode == 0, "ground truth: %s exited with %d: %s", service, proc.returncode,
                   err.decode(errors="replace")[-2000:])
            truth = json.loads(out)
            expect(plan_done(truth, ns), "ground truth: the gateway did %r, not %r", truth, gateway_truth(ns))
            exp.settle(before, expectations(fx, service, truth))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if exp:
                exp.stop()
    case.__doc__ = adopted_case.__doc__
    return case


def case_seed_exists_get(fx):
    """The seeds' own code: EXISTS, then GET only if the key exists. Its 12
    misses are EXISTS answering 0, which no cache read says: the wire has
    18 hits and no miss."""
    before = fx.exp().scrape()
    service = service_name("seed")
    truth = python_client(fx, service, "seed_exists_get", "seed")
    expect(truth["notes"]["seed_misses"] == 12 and truth["misses"] == 0, "ground truth: %r", truth)
    settle(fx, before, service, truth)


def case_pubsub(fx):
    """A subscriber's 40 messages are no cache reads: the misses are those
    of the GETs on another connection, exactly."""
    before = fx.exp().scrape()
    service = service_name("pubsub")
    truth = python_client(fx, service, "pubsub", "pubsub")
    expect(truth["notes"]["messages"] == 40, "ground truth: %r", truth)
    settle(fx, before, service, truth)


CLI_PRESENT, CLI_ABSENT = "abcde", "uvw"


def cli_commands(ns):
    """(commands, ground truth): each reply known from the commands alone
    on a fresh namespace."""
    q, s = ns + ":queue:jobs", ns + ":queue:string"

    def key(c):
        return "%s:k:%s" % (ns, c)
    cmds = [["SET", key(c), "v"] for c in CLI_PRESENT]
    cmds += [["GET", key(c)] for c in CLI_PRESENT + CLI_ABSENT]
    cmds += [["MGET", key("a"), key("u"), key("b"), key("v")]]
    cmds += [["LPUSH", q, "job %d" % i] for i in range(4)] + [["SET", s, "x"], ["LPUSH", s, "x"], ["RPUSH", q, "y"]]
    truth = {"hits": len(CLI_PRESENT) + 2, "misses": len(CLI_ABSENT) + 2, "attempts": 6, "successes": 5,
             "failures": {"WRONGTYPE": 1}, "depth": {q: 5},
             "commands": {"GET": len(CLI_PRESENT + CLI_ABSENT), "MGET": 1, "LPUSH": 5, "RPUSH": 1}}
    return cmds, truth


def resp(cmds):
    out = []
    for cmd in cmds:
        out.append("*%d\r\n" % len(cmd))
        out += ["$%d\r\n%s\r\n" % (len(arg.encode()), arg) for arg in cmd]
    return "".join(out).encode()


def case_cli_pipe(fx):
    """redis-cli --pipe (hiredis) sends a file of 21 commands at once: its
    own count of replies and errors (it exits with 1 on any error), and the
    hits, misses and pushes the commands make."""
    before = fx.exp().scrape()
    service = service_name("clipipe")
    cmds, truth = cli_commands("clipipe")
    out = run_client(fx, service, REDIS_CLI, ["-p", fx.port, "--pipe"], stdin=resp(cmds),
                     status=1)
    m = re.search(r"errors: (\d+), replies: (\d+)", out)
    expect(m and (int(m.group(1)), int(m.group(2))) == (1, len(cmds)),
           "ground truth: redis-cli --pipe printed %r, want 1 error in %d replies", out, len(cmds))
    settle(fx, before, service, truth)


def case_node_ioredis(fx):
    """ioredis (Node): the gateway, then a pipeline of GETs, MGET and
    LPUSHes, one of them WRONGTYPE."""
    expect((NODE_MODULES / "ioredis").is_dir(), "no ioredis in %s: run scripts/setup.sh", NODE_MODULES)
    before = fx.exp().scrape()
    service = service_name("node")
    env = dict(os.environ, NODE_PATH=str(NODE_MODULES))
    out = run_client(fx, service, launch.NODE, [launch.SERVERS / "redis_node_client.js", fx.port, "node"], env=env)
    truth = json.loads(out)
    expect(truth["failures"] == {"WRONGTYPE": 1} and truth["misses"] == 16, "ground truth: %r", truth)
    settle(fx, before, service, truth)


def cli_session(fx, service, resp):
    return redis_cli.Session(isolated.alias(fx.tmp, REDIS_CLI, service), fx.port, resp)


def case_resp3_cli(fx):
    """redis-cli -3 (HELLO 3 at connect; CLIENT INFO says resp=3), fed one
    command at a time: GET hit and miss (RESP3's nil `_`), MGET, HGET,
    HMGET, GETEX, LPUSH and RPUSH (depth), a WRONGTYPE, and replies of
    RESP3's own types between them (a double, a map, a set): counted as its
    printed replies say."""
    before = fx.exp().scrape()
    service, ns = service_name("resp3"), "resp3"
    s = cli_session(fx, service, 3)
    try:
        t = redis_cli.Truth(s)
        expect("resp=3" in t.run("CLIENT", "INFO"), "ground truth: redis-cli -3 is not on RESP3")
        k, h, q, text = ns + ":k", ns + ":h", ns + ":queue:jobs", ns + ":queue:text"
        t.run("SET", k, "v")
        t.run("HSET", h, "model", "gpt")
        t.run("ZADD", ns + ":z", "1.5", "m")
        t.read("GET", k)
        t.read("GET", ns + ":absent")
        t.run("ZSCORE", ns + ":z", "m")            # a double
        t.read("MGET", k, ns + ":absent", k, ns + ":gone")
        t.run("HGETALL", h)                        # a map
        t.read("HGET", h, "model")
        t.read("HGET", h, "missing")
        t.run("SMEMBERS", ns + ":noset")           # a set
        t.read("HMGET", h, "model", "missing", "model")
        t.read("GETEX", k, "EX", "60")
        t.read("GETEX", ns + ":absent", "EX", "60")
        for value in ("a", "b"):
            t.produce("LPUSH", q, value)
        t.produce("RPUSH", q, "c", "d")
        t.run("SET", text, "x")
        t.produce("LPUSH", text, "y")
    finally:
        s.close()
    truth = t.json()
    expect((truth["hits"], truth["misses"], truth["failures"], truth["depth"]) ==
           (7, 6, {"WRONGTYPE": 1}, {q: 4}), "ground truth: %r", truth)
    settle(fx, before, service, truth)


TRACKED = 6       # keys the tracking client reads
ROUNDS = 24


def tracking_round(t, other, key, absent, i):
    """The client reads key (Redis tracks it), which is then modified:
    by the other client (SET; SET and DEL) or by itself (SET); the
    invalidation push comes before the reply to what the client sends next:
    an MGET with a hit and a miss, a GET of the deleted key, a GET of an
    absent key. One round in 4 modifies nothing. Returns the pushes due."""
    t.read("GET", key)
    action = i % 4
    if action == 0:
        other.command("SET", key, "w%d" % i)
        t.read("MGET", key, absent)
    elif action == 1:
        other.command("SET", key, "x%d" % i)
        other.command("DEL", key)
        t.read("GET", key)
    elif action == 2:
        t.run("SET", key, "self%d" % i)
        t.read("GET", absent)
    return int(action != 3)


def case_resp3_tracking(fx):
    """Client-side caching: a RESP3 redis-cli with CLIENT TRACKING on reads
    keys that another client (a redis-cli of another name) sets and deletes,
    and that it sets itself: Redis pushes an invalidation for each, ahead of
    the reply that follows, a miss or an MGET. The pushes are no replies: no
    false hit or miss, nothing unpaired, every count exact."""
    before = fx.exp().scrape()
    service, ns = service_name("tracking"), "tracking"
    s, other = cli_session(fx, service, 3), cli_session(fx, service_name("modifier"), 2)
    try:
        t = redis_cli.Truth(s)
        keys = ["%s:k:%d" % (ns, i) for i in range(TRACKED)]
        t.run("CLIENT", "TRACKING", "ON")
        for key in keys[::2]:
            t.run("SET", key, "v")
        pushes = sum(tracking_round(t, other, keys[i % TRACKED], ns + ":absent", i) for i in range(ROUNDS))
    finally:
        s.close()
        other.close()
    expect(len(s.pushes) == pushes and all(p[0] == "invalidate" for p in s.pushes),
           "ground truth: %d invalidations, want %d: %r", len(s.pushes), pushes, s.pushes)
    settle(fx, before, service, t.json())


MESSAGES = ["hello", "", "_", "$-1", "*-1", "-ERR not an error"]


def subscriber(fx, service, resp, ns):
    """A redis-cli that reads a hit and a miss, then subscribes (its REPL
    then only prints what comes)."""
    s = cli_session(fx, service, resp)
    t = redis_cli.Truth(s)
    t.run("SET", ns + ":k", "v")
    t.read("GET", ns + ":k")
    t.read("GET", ns + ":absent")
    s.send("SUBSCRIBE", ns + ":ch")
    while s.line() != '["subscribe","%s:ch",1]' % ns:
        pass   # "Reading messages..."
    return s, t


def case_pubsub_cli(fx):
    """A RESP2 and a RESP3 subscriber (redis-cli -2 and -3 SUBSCRIBE after a
    GET hit and a GET miss each) receive messages some of which look like
    nil replies: their messages, RESP2 arrays and RESP3 pushes, are no
    misses; each has its hit and its miss and nothing else."""
    before = fx.exp().scrape()
    service, ns = service_name("pubcli"), "pubcli"
    subs, publisher = [], cli_session(fx, service_name("publisher"), 2)
    try:
        subs = [subscriber(fx, service, resp, ns) for resp in (2, 3)]
        for m in MESSAGES:
            expect(publisher.command("PUBLISH", ns + ":ch", json.dumps(m)) == 2,
                   "ground truth: PUBLISH %r did not reach both subscribers", m)
        for s, _ in subs:
            got = [json.loads(s.line()) for _ in MESSAGES]
            expect(got == [["message", ns + ":ch", m] for m in MESSAGES],
                   "ground truth: the subscriber printed %r", got)
    finally:
        for s, _ in subs:
            s.close()
        publisher.close()
    truth = {"hits": 2, "misses": 2, "attempts": 0, "successes": 0, "failures": {}, "depth": {},
             "commands": {"GET": 4, "SET": 2, "SUBSCRIBE": 0}}
    expect([t.json()["commands"] for _, t in subs] == [{"SET": 1, "GET": 2}] * 2
           and sum(t.hits for _, t in subs) == 2 and sum(t.misses for _, t in subs) == 2,
           "ground truth: %r", [t.json() for _, t in subs])
    settle(fx, before, service, truth)


CASES = [
    ("gateway", case_gateway),
    ("gateway_tls", case_gateway_tls),
    ("gateway_unix", case_gateway_unix),
    ("adopted", adopted_case("adopted", unix=False)),
    ("adopted_unix", adopted_case("adoptunix", unix=True)),
    ("seed_exists_get", case_seed_exists_get),
    ("mget_hget_getex", scenario_case("reads", "reads")),
    ("pipeline", scenario_case("pipeline")),
    ("queue", scenario_case("queue")),
    ("wrongtype", scenario_case("wrongtype")),
    ("oom", scenario_case("oom")),
    ("client_kill", scenario_case("client_kill", "kill")),
    # the killed connection's end is its EOF: no TCP state change says it
    ("client_kill_unix", scenario_case("client_kill", "killunix", unix=True)),
    ("pubsub", case_pubsub),
    ("cli_pipe", case_cli_pipe),
    ("node_ioredis", case_node_ioredis),
    ("resp3_cli", case_resp3_cli),
    ("resp3_tracking", case_resp3_tracking),
    ("pubsub_cli", case_pubsub_cli),
]


def groups(tmp):
    return [Group(lambda: Redis(tmp), [("redis:" + name, fn) for name, fn in CASES], lambda fx: fx.stop())]
