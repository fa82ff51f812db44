"""Child processes of an e2e run.

Every child runs in its own process group (start_new_session) so that
stopping it also stops whatever it forked (nginx workers, uvicorn, ...).
All children are stopped when the runner exits, whether it passes, fails,
is interrupted with Ctrl-C or receives SIGTERM/SIGHUP.
"""
import atexit
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import client

_children = []


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def tail(self, lines=40):
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def spawn(name, argv, logdir, env=None, cwd=None, pass_fds=()):
    """Start argv in a new session; stdout and stderr go to logdir/name.log."""
    log = Path(logdir) / (name + ".log")
    with open(log, "wb") as out:
        popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                 start_new_session=True, pass_fds=pass_fds)
    child = Child(name, popen, log)
    _children.append(child)
    return child


def _signal_group(child, sig):
    try:
        os.killpg(child.pid, sig)
    except ProcessLookupError:
        pass


def stop(child, timeout=5.0, sig=signal.SIGTERM):
    """Signal the child's process group, escalate to SIGKILL after timeout.
    Returns the child's exit status."""
    if child.alive():
        _signal_group(child, sig)
        try:
            child.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(child, signal.SIGKILL)
            child.popen.wait()
    # Forked grandchildren may outlive the leader: sweep the group anyway.
    _signal_group(child, signal.SIGKILL)
    if child in _children:
        _children.remove(child)
    return child.popen.returncode


def stop_all():
    for child in reversed(list(_children)):
        stop(child, timeout=2.0)


def install_cleanup():
    atexit.register(stop_all)

    def on_signal(signum, _frame):
        # SystemExit unwinds the stack (finally blocks, atexit) like Ctrl-C.
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


def free_port():
    """A loopback port that was free a moment ago (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_http(child, port, path="/health", timeout=15.0, want=200, tls=None):
    """Poll until the port accepts connections and GET path answers `want`
    (over TLS with an SSLContext `tls`: the handshake must succeed too).
    Raises RuntimeError with the child's log if it dies or never gets there."""
    deadline = time.monotonic() + timeout
    last = "port closed"
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError("%s exited with status %s before it was ready:\n%s"
                               % (child.name, child.popen.returncode, child.tail()))
        if port_open(port):
            try:
                status = client.request(port, client.get(path), timeout=2.0, tls=tls).status
                if status == want:
                    return
                last = "GET %s answered %d" % (path, status)
            except (OSError, client.PeerClosed, client.ProtocolError) as e:
                last = "GET %s failed: %s" % (path, e)
        time.sleep(0.02)
    raise RuntimeError("%s not ready on port %d after %.0f s (%s):\n%s"
                       % (child.name, port, timeout, last, child.tail()))
