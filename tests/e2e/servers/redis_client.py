"""A Redis client on redis-py (Debian's python3-redis), for the redis: e2e
group (tests/e2e/redis_cases.py):

    redis_client.py SCENARIO TARGET NAMESPACE [CAFILE]

TARGET is a TCP port on 127.0.0.1 (over TLS, verified against CAFILE,
when CAFILE is given) or unix:PATH. Every key begins with NAMESPACE, so
that cases sharing a server never see each other's keys. The scenarios
(SCENARIOS) use the library as applications do; each prints its ground
truth as one JSON object, counted from what redis-py returned the way
the spec counts it:

- hits, misses: cache reads (GET, GETEX, HGET; MGET and HMGET per
  element) that returned a value / nil;
- attempts, successes, failures: LPUSH/RPUSH/XADD sent, answered without
  error, and {reason: n}: the error's prefix, or "connection" when the
  connection died before the reply;
- depth: {key: the last LPUSH/RPUSH reply on it, or XLEN's for a stream};
- commands: {COMMAND: n} of the commands counted above (and XLEN) that
  had a reply, error replies included;
- seconds: {COMMAND: a bound on the sum of their latencies}: the sum of
  the calls' times measured around them (a pipeline's commands are each
  bounded by the whole pipeline's call);
- and notes of its own (messages received, the seed's own miss count).

A scenario whose client did not behave as planned (no OOM reached, a
killed command that ran anyway) exits with status 2 and says why.

With REDIS_HOLD=1 in its environment, the client first opens its
connection (a PING, not counted in the ground truth), prints "ready" and
waits for a line on stdin: the connection is older than an exporter
started meanwhile.
"""
import hashlib
import json
import os
import sys
import threading
import time
from collections import Counter

import redis

PRODUCERS = ("LPUSH", "RPUSH", "XADD")
# redis-py strips these prefixes off the message and raises a class of its
# own instead (redis/connection.py, EXCEPTION_CLASSES); ERR is plain
# ResponseError without its prefix.
STRIPPED = {redis.exceptions.ExecAbortError: "EXECABORT", redis.exceptions.BusyLoadingError: "LOADING",
            redis.exceptions.NoScriptError: "NOSCRIPT", redis.exceptions.ReadOnlyError: "READONLY",
            redis.exceptions.NoPermissionError: "NOPERM", redis.exceptions.AuthenticationError: "NOAUTH"}


class Broken(Exception):
    """The client did not do what the scenario needs."""


def check(cond, what):
    if not cond:
        raise Broken(what)


def reason_of(err):
    """The error reply's prefix as Redis sent it."""
    if type(err) in STRIPPED:
        return STRIPPED[type(err)]
    word = str(err).split(" ", 1)[0]
    return word if word.isupper() else "ERR"


class Truth:
    def __init__(self):
        self.hits = self.misses = self.attempts = self.successes = 0
        self.failures, self.depth = Counter(), {}
        self.commands, self.seconds = Counter(), Counter()
        self.notes = {}
        self.lock = threading.Lock()   # the kill scenario produces from two threads

    def timed(self, command, n, fn, *args, **kw):
        """fn(...) carrying n commands `command`; each is bounded by the call's
        time. A command whose connection died has no reply, hence no latency."""
        t0, replied = time.monotonic(), True
        try:
            return fn(*args, **kw)
        except redis.exceptions.ConnectionError:
            replied = False
            raise
        finally:
            if replied:
                with self.lock:
                    self.commands[command] += n
                    self.seconds[command] += n * (time.monotonic() - t0)

    def read_reply(self, value):
        """A cache read's reply: a value, nil, or a list of them (MGET, HMGET)."""
        for v in value if isinstance(value, list) else [value]:
            if v is None:
                self.misses += 1
            else:
                self.hits += 1

    def read(self, command, fn, *args, **kw):
        value = self.timed(command, 1, fn, *args, **kw)
        self.read_reply(value)
        return value

    def produced(self, command, key, reply):
        """One produce's outcome: an exception or its reply."""
        with self.lock:
            self.attempts += 1
            if isinstance(reply, redis.exceptions.ConnectionError):
                self.failures["connection"] += 1
            elif isinstance(reply, redis.exceptions.ResponseError):
                self.failures[reason_of(reply)] += 1
            else:
                self.successes += 1
                if command != "XADD":
                    self.depth[key] = reply

    def produce(self, r, command, key, *args, **kw):
        """LPUSH/RPUSH key values..., or XADD key fields; returns the reply or the error."""
        try:
            reply = self.timed(command, 1, getattr(r, command.lower()), key, *args, **kw)
        except (redis.exceptions.ResponseError, redis.exceptions.ConnectionError) as e:
            reply = e
        self.produced(command, key, reply)
        return reply

    def xlen(self, r, key):
        self.depth[key] = self.timed("XLEN", 1, r.xlen, key)

    def json(self):
        return {"hits": self.hits, "misses": self.misses, "attempts": self.attempts,
                "successes": self.successes, "failures": dict(self.failures), "depth": self.depth,
                "commands": dict(self.commands), "seconds": dict(self.seconds), "notes": self.notes}


def prompt_key(ns, prompt):
    return "%s:cache:%s" % (ns, hashlib.sha256(prompt.encode()).hexdigest()[:16])


def prompts():
    """30 requests over 12 distinct prompts: 12 misses, then 18 hits."""
    return ["prompt %d" % (i % 12) for i in range(30)]


def gateway(r, t, ns):
    """The seeds' gateway with a plain cache-aside: GET, on a miss the answer
    stored with SETEX and a job queued with LPUSH."""
    for p in prompts():
        key = prompt_key(ns, p)
        if t.read("GET", r.get, key) is None:
            r.setex(key, 3600, "answer to " + p)
            t.produce(r, "LPUSH", ns + ":queue:jobs", json.dumps({"prompt": p}))


def seed_exists_get(r, t, ns):
    """The seeds' gateway word for word (000_*.txt, "Two-Tier Cache
    Tracking"): EXISTS, then GET only when it exists, else SET ... EX."""
    seed_misses = 0
    for p in prompts():
        key = prompt_key(ns, p)
        if r.exists(key):
            t.read("GET", r.get, key)
        else:
            seed_misses += 1
            r.set(key, "answer to " + p, ex=3600)
    t.notes["seed_misses"] = seed_misses


def reads(r, t, ns):
    """MGET with keys missing, HGET, HMGET with fields missing, GETEX."""
    present = ["%s:k:%s" % (ns, c) for c in "pqrst"]
    absent = ["%s:k:%s" % (ns, c) for c in "uvwxyz"]
    r.mset({k: "value of " + k for k in present})
    for i in range(8):
        t.read("MGET", r.mget, present[i % 5:] + absent[:i % 4] + present[:1])
    h = ns + ":hash"
    r.hset(h, mapping={"model": "gpt", "user": "someone"})
    t.read("HGET", r.hget, h, "model")
    t.read("HGET", r.hget, h, "missing")
    t.read("HGET", r.hget, ns + ":nohash", "model")
    t.read("HMGET", r.hmget, h, ["model", "missing", "user", "gone"])
    t.read("GETEX", r.getex, present[0], ex=60)
    t.read("GETEX", r.getex, absent[0], ex=60)


def pipeline(r, t, ns):
    """200 GETs in one batch pipeline (transaction=False), then a MULTI/EXEC
    pipeline of GETs, MGET and LPUSHes."""
    keys = ["%s:p:%d" % (ns, i) for i in range(200)]
    setup = r.pipeline(transaction=False)
    for k in keys[::3]:
        setup.set(k, "v")
    setup.execute()
    p = r.pipeline(transaction=False)
    for k in keys:
        p.get(k)
    for value in t.timed("GET", len(keys), p.execute):
        t.read_reply(value)
    q = ns + ":queue:multi"
    m = r.pipeline(transaction=True)
    m.get(keys[0]).get(keys[1]).mget(keys[:4]).lpush(q, "a").lpush(q, "b", "c").get(keys[3])
    t0 = time.monotonic()
    replies = m.execute()
    took = time.monotonic() - t0
    for command, reply in zip(("GET", "GET", "MGET", "LPUSH", "LPUSH", "GET"), replies):
        t.commands[command] += 1
        t.seconds[command] += took
        if command == "LPUSH":
            t.produced(command, q, reply)
        else:
            t.read_reply(reply)


def queue(r, t, ns):
    """LPUSH and RPUSH (one value or several), XADD then XLEN; a consumer's
    RPOP leaves the depth at the last push's reply."""
    jobs, mail, events = ns + ":queue:jobs", ns + ":queue:mail", ns + ":stream:events"
    for i in range(7):
        t.produce(r, "LPUSH", jobs, "job %d" % i)
    t.produce(r, "LPUSH", jobs, "x", "y", "z")
    for i in range(4):
        t.produce(r, "RPUSH", mail, "mail %d" % i)
    for i in range(5):
        t.produce(r, "XADD", events, {"n": i})
    t.xlen(r, events)
    check(len(r.rpop(jobs, 3)) == 3, "RPOP took fewer than 3 jobs")


def wrongtype(r, t, ns):
    """LPUSH and RPUSH on a string key (WRONGTYPE), XADD with an id of 0-0
    (ERR), between successful pushes."""
    s, q, events = ns + ":queue:string", ns + ":queue:jobs", ns + ":stream:events"
    r.set(s, "not a list")
    t.produce(r, "LPUSH", q, "first")
    for i in range(3):
        t.produce(r, "LPUSH", s, "job %d" % i)
    t.produce(r, "RPUSH", s, "job")
    t.produce(r, "XADD", events, {"n": 1}, id="0-0")
    t.produce(r, "LPUSH", q, "last")
    check(t.failures == Counter({"WRONGTYPE": 4, "ERR": 1}), "errors were %r" % dict(t.failures))


OOM_AFTER = 3          # failed pushes once the first OOM came
VALUE = "v" * 16384
ROOM = 1 << 20         # the limit: 1 MB above what Redis uses at the start


def oom(r, t, ns):
    """maxmemory with noeviction: LPUSH until Redis refuses with OOM, a few
    more refused, then the limit lifted. An idle Redis 7 uses more than
    1 MB already (1.7 MB here): a limit of 1mb would refuse the first push,
    so the limit is 1 MB above what it uses, and some pushes pass first."""
    q = ns + ":queue:big"
    policy = r.config_get("maxmemory-policy")["maxmemory-policy"]
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", r.info("memory")["used_memory"] + ROOM)
    try:
        for _ in range(4096):
            t.produce(r, "LPUSH", q, VALUE)
            if t.failures["OOM"] == OOM_AFTER:
                break
    finally:
        r.config_set("maxmemory", 0)
        r.config_set("maxmemory-policy", policy)
        r.delete(q)
    check(t.successes > 0 and t.failures == Counter({"OOM": OOM_AFTER}),
          "%d pushes passed, errors were %r" % (t.successes, dict(t.failures)))


def wait_outstanding(ctl, names, timeout=10.0):
    """{client name: id} once each named client is blocked in its command
    (CLIENT LIST: flags with b, cmd its command)."""
    deadline = time.monotonic() + timeout
    while True:
        clients = {c["name"]: c for c in ctl.client_list() if c["name"] in names}
        if all(name in clients and "b" in clients[name]["flags"] and clients[name]["cmd"] == cmd
               for name, cmd in names.items()):
            return {name: c["id"] for name, c in clients.items()}
        check(time.monotonic() < deadline, "never outstanding: %r" % clients)
        time.sleep(0.01)


def named(r, name):
    """Another client on r's server, its connections named `name`."""
    pool = r.connection_pool
    return redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=pool.connection_class, **dict(pool.connection_kwargs, client_name=name)))


def client_kill(r, t, ns):
    """A producer's LPUSH held by CLIENT PAUSE WRITE, and a consumer's BLPOP
    waiting, both killed with CLIENT KILL: the LPUSH fails with the
    connection and never runs; the BLPOP is no produce."""
    q = ns + ":queue:jobs"
    producer, consumer = named(r, "e2e-producer"), named(r, "e2e-consumer")
    t.produce(producer, "LPUSH", q, "before")
    r.execute_command("CLIENT", "PAUSE", 30000, "WRITE")
    errors = []

    def consume():
        try:
            consumer.blpop(ns + ":queue:empty", timeout=30)
        except redis.exceptions.ConnectionError as e:
            errors.append(e)
    threads = [threading.Thread(target=t.produce, args=(producer, "LPUSH", q, "during")),
               threading.Thread(target=consume)]
    try:
        for th in threads:
            th.start()
        ids = wait_outstanding(r, {"e2e-producer": "lpush", "e2e-consumer": "blpop"})
        for client_id in ids.values():
            r.client_kill_filter(_id=client_id)
    finally:
        r.execute_command("CLIENT", "UNPAUSE")
        for th in threads:
            th.join()
    check(len(errors) == 1, "the BLPOP did not fail with its connection")
    check(t.failures == Counter({"connection": 1}), "errors were %r" % dict(t.failures))
    check(r.llen(q) == 1, "the killed LPUSH ran (the list holds %d)" % r.llen(q))


def pubsub(r, t, ns):
    """A subscriber (SUBSCRIBE and PSUBSCRIBE) receives 40 messages while
    another connection reads the cache: the messages are no misses."""
    present, absent = ns + ":k:present", ns + ":k:absent"
    r.set(present, "v")
    sub = r.pubsub()
    sub.subscribe(ns + ":ch")
    sub.psubscribe(ns + ":pch:*")
    confirmations = [sub.get_message(timeout=5) for _ in range(2)]
    check(all(m and m["type"] in ("subscribe", "psubscribe") for m in confirmations),
          "subscriptions: %r" % confirmations)
    received = 0
    for i in range(20):
        r.publish(ns + ":ch", "message %d" % i)
        r.publish(ns + ":pch:x", "" if i % 2 else "pattern message")
        t.read("GET", r.get, present if i % 3 else absent)
        for _ in range(2):
            m = sub.get_message(timeout=5)
            check(m and m["type"] in ("message", "pmessage"), "got %r" % m)
            received += 1
    sub.unsubscribe()
    sub.punsubscribe()
    sub.close()
    t.notes["messages"] = received


SCENARIOS = {"gateway": gateway, "seed_exists_get": seed_exists_get, "reads": reads, "pipeline": pipeline,
             "queue": queue, "wrongtype": wrongtype, "oom": oom, "client_kill": client_kill,
             "pubsub": pubsub}


def connect(target, cafile):
    if target.startswith("unix:"):
        return redis.Redis(unix_socket_path=target[len("unix:"):])
    if cafile:
        return redis.Redis(host="localhost", port=int(target), ssl=True, ssl_ca_certs=cafile,
                           ssl_cert_reqs="required")
    return redis.Redis(host="127.0.0.1", port=int(target))


def main():
    scenario, target, ns = sys.argv[1:4]
    r, t = connect(target, sys.argv[4] if len(sys.argv) > 4 else None), Truth()
    if os.environ.get("REDIS_HOLD") == "1":
        r.ping()   # the pool's connection, reused by what follows
        print("ready", flush=True)
        sys.stdin.readline()
    try:
        SCENARIOS[scenario](r, t, ns)
    except Broken as e:
        print("ground truth: %s: %s" % (scenario, e), file=sys.stderr)
        return 2
    print(json.dumps(t.json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
