"""redis-cli (hiredis) driven one command at a time, for the redis: e2e
group (redis_cases.py): its REPL reads the commands of a pipe line by line,
so a case holds one connection in RESP2 (-2) or RESP3 (-3: HELLO 3 at
connect) and reads each reply back as the one line --json prints for it.
With --show-pushes yes, RESP3 pushes (CLIENT TRACKING invalidations) come
as lines of their own before the reply they preceded. An error reply is
printed `error:"MESSAGE"`, a verbatim string as it is.

Truth counts what the replies say the way redis_client.py counts redis-py's
(hits and misses of cache reads, produce outcomes, depths, commands
answered): the ground truth of the cases, from the client's own output.
"""
import json
import os
import select
import subprocess
import time
from collections import Counter

from framework import expect

TIMEOUT = 10.0
# first elements of the pushes these cases make (RESP3)
PUSH_KINDS = ("invalidate",)


class Error(str):
    """An error reply's message."""


def parse(line):
    """A reply line; a verbatim string (CLIENT INFO's) is printed as is."""
    if line.startswith("error:"):
        return Error(json.loads(line[len("error:"):]))
    try:
        return json.loads(line)
    except ValueError:
        return line


def is_push(value):
    return isinstance(value, list) and len(value) == 2 and value[0] in PUSH_KINDS


class Session:
    """redis-cli as `argv0` (a comm of the case's own) on 127.0.0.1:port."""

    def __init__(self, argv0, port, resp):
        argv = [str(argv0), "-p", str(port), "-%d" % resp, "--json", "--show-pushes", "yes"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.buf = b""
        self.pushes = []

    def send(self, *words):
        """One command, its words split as redis-cli splits a line (a word
        in double quotes may hold blanks, or be empty)."""
        self.proc.stdin.write((" ".join(map(str, words)) + "\n").encode())
        self.proc.stdin.flush()

    def line(self):
        deadline = time.monotonic() + TIMEOUT
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            expect(left > 0 and select.select([fd], [], [], left)[0],
                   "ground truth: redis-cli printed no line in %.0f s (has %r; stderr %r)", TIMEOUT, self.buf,
                   self.stderr())
            chunk = os.read(fd, 65536)
            expect(chunk, "ground truth: redis-cli exited (%s): %s", self.proc.poll(), self.stderr())
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def stderr(self):
        return self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""

    def command(self, *words):
        """The reply to one command; the pushes printed before it are kept
        in self.pushes."""
        self.send(*words)
        while True:
            value = parse(self.line())
            if not is_push(value):
                return value
            self.pushes.append(value)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.communicate(timeout=TIMEOUT)


class Truth:
    """Counts of the replies a Session read, as redis_client.py's Truth."""

    def __init__(self, session):
        self.s = session
        self.hits = self.misses = self.attempts = self.successes = 0
        self.failures, self.depth, self.commands = Counter(), {}, Counter()

    def run(self, *words):
        reply = self.s.command(*words)
        self.commands[words[0].upper()] += 1
        return reply

    def read(self, *words):
        """A cache read: each nil (null) a miss, each value a hit."""
        reply = self.run(*words)
        expect(not isinstance(reply, Error), "ground truth: %s answered %r", words, reply)
        for v in reply if isinstance(reply, list) else [reply]:
            if v is None:
                self.misses += 1
            else:
                self.hits += 1
        return reply

    def produce(self, command, key, *values):
        reply = self.run(command, key, *values)
        self.attempts += 1
        if isinstance(reply, Error):
            self.failures[reply.split(" ", 1)[0]] += 1
        else:
            self.successes += 1
            if command.upper() != "XADD":
                self.depth[key] = reply
        return reply

    def json(self):
        return {"hits": self.hits, "misses": self.misses, "attempts": self.attempts,
                "successes": self.successes, "failures": dict(self.failures), "depth": self.depth,
                "commands": dict(self.commands)}
