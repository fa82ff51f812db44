"""Debian's headless chromium, driven over the DevTools protocol on a pipe.

With --remote-debugging-pipe the browser reads commands on its fd 3 and
writes answers and events on its fd 4, one JSON message per NUL-ended
record: no port to pick, no websocket library. A Tab collects what a user
would see in the console as a problem (console.error and warnings,
uncaught exceptions, failed loads and policy violations that the browser
logs), evaluates expressions and takes screenshots.
"""
import base64
import fcntl
import json
import os
import threading
from pathlib import Path

import procs

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--disable-gpu", "--no-sandbox", "--remote-debugging-pipe", "--no-first-run",
         "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-extensions", "--mute-audio"]


class BrowserError(RuntimeError):
    pass


def high_fd(fd):
    """fd moved to 10 or above."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


class Browser:
    def __init__(self, tmp):
        to_browser, self._cmd = os.pipe()
        self._out, from_browser = os.pipe()
        # bash puts the browser's ends on fds 3 and 4, from fds above
        # them (a pipe's fd may be 3 or 4 itself).
        to_browser, from_browser = high_fd(to_browser), high_fd(from_browser)
        wrapper = 'exec "$0" "$@" 3<&%d 4>&%d %d<&- %d>&-' % (to_browser, from_browser, to_browser,
                                                                from_browser)
        profile = Path(tmp) / "chromium-profile"
        self.child = procs.spawn("chromium", ["/bin/bash", "-c", wrapper, CHROMIUM, "--user-data-dir=%s" % profile]
                                 + FLAGS + ["about:blank"], tmp, pass_fds=(to_browser, from_browser))
        os.close(to_browser)
        os.close(from_browser)
        self._writer = os.fdopen(self._cmd, "wb")
        self._cond = threading.Condition()
        self._answers, self._events, self._closed, self._next = {}, [], False, 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        with os.fdopen(self._out, "rb", buffering=0) as pipe:
            while True:
                chunk = pipe.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
                *records, buf = buf.split(b"\0")
                with self._cond:
                    for msg in map(json.loads, records):
                        if "id" in msg:
                            self._answers[msg["id"]] = msg
                        else:
                            self._events.append(msg)
                    self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def send(self, method, params=None, session=None, timeout=30.0):
        """One command; its result, or BrowserError with its error."""
        with self._cond:
            self._next += 1
            mid = self._next
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self._writer.write(json.dumps(msg).encode() + b"\0")
        self._writer.flush()
        with self._cond:
            self._cond.wait_for(lambda: mid in self._answers or self._closed, timeout)
            answer = self._answers.pop(mid, None)
        if answer is None:
            raise BrowserError("%s: no answer within %.0f s (browser %s):\n%s" % (
                method, timeout, "alive" if self.child.alive() else "gone", self.child.tail()))
        if "error" in answer:
            raise BrowserError("%s: %s" % (method, answer["error"]))
        return answer["result"]

    def events(self, session, method=None):
        with self._cond:
            return [e for e in self._events if e.get("sessionId") == session
                    and (method is None or e["method"] == method)]

    def wait_event(self, session, method, timeout=30.0):
        with self._cond:
            ok = self._cond.wait_for(lambda: any(e["method"] == method and e.get("sessionId") == session
                                                 for e in self._events) or self._closed, timeout)
        if not ok or self._closed:
            raise BrowserError("no %s within %.0f s" % (method, timeout))

    def tab(self, url, width=1280, height=900):
        """A new tab showing url, once its load event has fired."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.send(domain + ".enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                         "deviceScaleFactor": 1, "mobile": False}, session)
        self.send("Page.navigate", {"url": url}, session)
        self.wait_event(session, "Page.loadEventFired")
        return Tab(self, session)

    def close(self):
        try:
            self.send("Browser.close", timeout=5.0)
        except BrowserError:
            pass
        self._writer.close()
        procs.stop(self.child)


class Tab:
    def __init__(self, browser, session):
        self.browser, self.session = browser, session

    def evaluate(self, expression):
        """The value of a JavaScript expression (awaited if a promise)."""
        r = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                   "awaitPromise": True}, self.session)
        if "exceptionDetails" in r:
            raise BrowserError("%s: %s" % (expression[:80], r["exceptionDetails"]))
        return r["result"].get("value")

    def problems(self):
        """What the console shows as errors or warnings, one line each."""
        out = []
        for e in self.browser.events(self.session):
            p = e["params"]
            if e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "warning", "assert"):
                out.append("console.%s: %s" % (p["type"], " ".join(str(a.get("value", a.get("description")))
                                                                   for a in p["args"])))
            elif e["method"] == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append("uncaught: %s" % d.get("exception", {}).get("description", d.get("text")))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append("%s %s: %s %s" % (p["entry"]["source"], p["entry"]["level"], p["entry"]["text"],
                                             p["entry"].get("url", "")))
        return out

    def screenshot(self, path, height):
        """The top `height` CSS pixels of the page, as wide as the tab, as a
        PNG; returns its size in bytes."""
        clip = {"x": 0, "y": 0, "width": self.evaluate("window.innerWidth"), "height": height, "scale": 1}
        data = base64.b64decode(self.browser.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True, "clip": clip}, self.session)["data"])
        Path(path).write_bytes(data)
        return len(data)
