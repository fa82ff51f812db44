"""Prometheus' HTTP API, as the tests that run a real Prometheus use it
(launch.start_prometheus)."""
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from framework import Failure, expect


class API:
    def __init__(self, port):
        self.port = port

    def call(self, path, params):
        """(status, data or error text) of GET /api/v1/PATH: Prometheus
        answers a bad query with 400 and a JSON error."""
        url = "http://127.0.0.1:%d/api/v1/%s?%s" % (self.port, path, urllib.parse.urlencode(params, doseq=True))
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                doc = json.load(r)
        except urllib.error.HTTPError as e:
            doc = json.load(e)
        return doc.get("status"), doc.get("data") if doc.get("status") == "success" else doc.get("error")

    def get(self, path, **params):
        status, data = self.call(path, params)
        expect(status == "success", "Prometheus /api/v1/%s %r: %s", path, params, data)
        return data

    def query(self, expr, at=None):
        """Instant query (at a Unix time, else now) -> [(labels, float value)];
        a scalar answer is one sample without labels."""
        data = self.get("query", query=expr, **({"time": "%.3f" % at} if at is not None else {}))
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(res["metric"], float(res["value"][1])) for res in data["result"]]

    def wait_value(self, expr, predicate, timeout):
        """The first sample's value once predicate(value) holds."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result and predicate(result[0][1]):
                return result[0][1]
            if time.monotonic() > deadline:
                raise Failure("Prometheus: %s is %r after %.0f s" % (expr, result, timeout))
            time.sleep(0.2)
