#!/usr/bin/python3
"""The Grafana dashboards of deploy/grafana/, generated from one place.

    /usr/bin/python3 deploy/grafana/dashboards.py     writes the JSON files beside it

Edit the panels here, run it, commit both: `make check-dashboards` fails
when a JSON file differs from what this writes (tests/deploy/).

Three dashboards, with the panels of the seeds' monitoring strategy that
this exporter's metrics (docs/metrics.md) can fill; README.md beside this
file lists those left out and why. Every query goes through the
`datasource` variable and filters on the `namespace`, `service`
(`provider`, `model`) variables; every aggregation keeps `namespace` and
`service` or sums over them, never splits by the exporter's instance or
node: one service behind many nodes is one line.
"""
import json
import os
import re

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_VERSION = 39          # Grafana 10.3 to 11.x
TAG = "sse-exporter"
DS = {"type": "prometheus", "uid": "${datasource}"}

# --- Thresholds: those of the alerts ------------------------------------

ALERTS = os.path.join(os.path.dirname(HERE), "prometheus", "alerts.yml")
# A number an alert's expression compares with: `> 0.05`, `<= 0.05`, `== 1`.
COMPARED = re.compile(r"(?:[<>]=?|==)\s*(?:bool\s+)?(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)(?![0-9a-zA-Z_:(])")


def alert_thresholds(path=ALERTS):
    """{alert name: [the numbers its expression compares with]} of
    deploy/prometheus/alerts.yml."""
    with open(path) as f:
        doc = yaml.safe_load(f)
    return {rule["alert"]: [number(n) for n in COMPARED.findall(rule["expr"])]
            for group in doc["groups"] for rule in group["rules"] if "alert" in rule}


def number(text):
    value = float(text)
    return int(value) if value.is_integer() else value


THRESHOLDS = alert_thresholds()


def threshold(alert):
    """The (first) number the alert compares with."""
    return THRESHOLDS[alert][0]


ERROR_RATIO_WARNING = threshold("SSEElevatedErrorRate")
ERROR_RATIO_CRITICAL = threshold("SSEHighErrorRate")
TTFT_P99_WARNING_S = threshold("SSEHighLatency")
CAPACITY_TRENDING = threshold("SSECapacityTrending")
CAPACITY_CRITICAL = threshold("SSECapacityExhausted")
PROVIDER_ERROR_RATIO_CRITICAL = threshold("SSEProviderHighErrorRate")
BREAKER_FAILURES_ELEVATED = threshold("SSEProviderFailuresElevated")
RATE_LIMITED_WARNING = threshold("SSEElevatedRateLimiting")
RATE_LIMITED_CRITICAL = threshold("SSEHighRateLimiting")
LONG_STREAMS_S = threshold("SSELongStreams")
EXCHANGES_LOST_WARNING = threshold("SSEExporterExchangesLost")
BREAKER_OPEN = 2                # sse_circuit_breaker_state: 0 closed, 1 half-open, 2 open
# The seeds' thresholds that no alert has: the scaling matrix's 80 %, the
# breaker table's "above 5 failures a minute, critical", the SLO table's
# median, the providers' SLA, the chunks per stream.
CAPACITY_SCALE = 0.80
BREAKER_FAILURES_CRITICAL = 5
P50_LATENCY_WARNING_S = 0.2
P50_LATENCY_CRITICAL_S = 0.5
PROVIDER_P95_S, PROVIDER_P99_S = 2, 5
CHUNKS_DEGRADED, CHUNKS_HEALTHY = 5, 10


def alerts_named(*names, on=""):
    """The sentence of a description that names the alerts whose
    thresholds the panel draws, `NAME (numbers)` each:
    check_dashboards.py holds them equal to alerts.yml and to the steps."""
    return " Thresholds: %s%s." % (", ".join("%s (%s)" % (n, ", ".join("%g" % v for v in THRESHOLDS[n]))
                                             for n in names), on and " on the " + on)


# --- Selectors and expressions -------------------------------------------

SVC = 'namespace=~"$namespace", service=~"$service"'
PROV = SVC + ', provider=~"$provider"'
MODEL = PROV + ', model=~"$model"'
RATE = "$__rate_interval"
RANGE = "$__range"
BY_SERVICE = ("namespace", "service")
# The service's own failures, as sse:error_ratio:5m counts them: a client
# that went away is not one (docs/metrics.md, sse_errors_total).
OWN_ERRORS = 'error_type!~"client_disconnect|connection_reset"'


def sel(metric, base=SVC, *extra):
    return "%s{%s}" % (metric, ", ".join((base,) + extra))


def agg(inner, by=()):
    return "sum by (%s) (%s)" % (", ".join(by), inner) if by else "sum(%s)" % inner


def rate(metric, base=SVC, *extra, by=(), window=RATE):
    return agg("rate(%s[%s])" % (sel(metric, base, *extra), window), by)


def quantile(q, metric, base=SVC, *extra, by=(), window=RATE):
    inner = "rate(%s[%s])" % (sel(metric + "_bucket", base, *extra), window)
    return "histogram_quantile(%s, %s)" % (q, agg(inner, by + ("le",)))


def availability(window):
    """1 - sse:error_ratio:5m over any window, for all the selected
    services together (0 errors when the family has no series yet)."""
    requests = rate("sse_requests_total", window=window)
    return "1 - ((%s or %s * 0) / %s)" % (rate("sse_errors_total", SVC, OWN_ERRORS, window=window), requests,
                                          requests)


# --- Panels ----------------------------------------------------------------

def steps(*pairs):
    """Threshold steps: a base colour, then (value, colour) upwards."""
    base, *rest = pairs
    return {"mode": "absolute", "steps": [{"color": base, "value": None}]
            + [{"color": c, "value": v} for v, c in rest]}


NO_THRESHOLDS = steps("green")
ERROR_STEPS = steps("green", (ERROR_RATIO_WARNING, "yellow"), (ERROR_RATIO_CRITICAL, "red"))
AVAILABILITY_STEPS = steps("red", (1 - ERROR_RATIO_CRITICAL, "yellow"), (1 - ERROR_RATIO_WARNING, "green"))
CAPACITY_STEPS = steps("green", (CAPACITY_TRENDING, "blue"), (CAPACITY_SCALE, "orange"),
                       (CAPACITY_CRITICAL, "red"))
TTFT_STEPS = steps("green", (TTFT_P99_WARNING_S, "red"))
PROVIDER_ERROR_STEPS = steps("green", (PROVIDER_ERROR_RATIO_CRITICAL, "red"))
RATE_LIMITED_STEPS = steps("green", (RATE_LIMITED_WARNING, "yellow"), (RATE_LIMITED_CRITICAL, "red"))
P50_STEPS = steps("green", (P50_LATENCY_WARNING_S, "yellow"), (P50_LATENCY_CRITICAL_S, "red"))
BREAKER_STEPS = steps("green", (1, "yellow"), (BREAKER_OPEN, "red"))
BREAKER_FAILURE_STEPS = steps("green", (BREAKER_FAILURES_ELEVATED, "yellow"),
                              (BREAKER_FAILURES_CRITICAL, "red"))
BREAKER_MAPPINGS = [{"type": "value", "options": {
    "0": {"text": "closed", "color": "green", "index": 0},
    "1": {"text": "half-open", "color": "yellow", "index": 1},
    str(BREAKER_OPEN): {"text": "open", "color": "red", "index": 2}}}]


def target(expr, legend="", instant=False, fmt="time_series"):
    return {"datasource": DS, "editorMode": "code", "expr": expr, "format": fmt,
            "instant": instant, "legendFormat": legend or "__auto", "range": not instant}


def panel(kind, title, desc, targets, unit, thresholds=NO_THRESHOLDS, size=(12, 8), custom=None,
          options=None, mappings=(), color=None):
    """A panel of `kind`; `size` is (width, height) in grid units, placed
    by layout()."""
    defaults = {"color": color or {"mode": "palette-classic"}, "mappings": list(mappings),
                "thresholds": thresholds, "unit": unit}
    if custom:
        defaults["custom"] = custom
    return {"type": kind, "title": title, "description": desc, "datasource": DS,
            "fieldConfig": {"defaults": defaults, "overrides": []}, "options": options or {},
            "targets": [dict(t, refId=chr(ord("A") + i)) for i, t in enumerate(targets)],
            "_size": size}


def timeseries(title, desc, targets, unit, thresholds=NO_THRESHOLDS, stacked=False, size=(12, 8)):
    """Threshold steps other than the base show as dashed lines."""
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 25 if stacked else 10,
              "showPoints": "never", "spanNulls": False,
              "stacking": {"mode": "normal" if stacked else "none", "group": "A"},
              "thresholdsStyle": {"mode": "dashed" if len(thresholds["steps"]) > 1 else "off"}}
    options = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
               "tooltip": {"mode": "multi", "sort": "desc"}}
    return panel("timeseries", title, desc, targets, unit, thresholds, size, custom, options)


REDUCE_LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}


def stat(title, desc, expr, unit, thresholds=NO_THRESHOLDS, size=(6, 4), mappings=(), legend=""):
    options = {"colorMode": "value", "graphMode": "area", "justifyMode": "auto", "orientation": "auto",
               "reduceOptions": REDUCE_LAST, "textMode": "auto"}
    return panel("stat", title, desc, [target(expr, legend)], unit, thresholds, size, options=options,
                 mappings=mappings, color={"mode": "thresholds"})


def bargauge(title, desc, targets, unit, thresholds=NO_THRESHOLDS, size=(12, 8)):
    options = {"displayMode": "gradient", "orientation": "horizontal", "reduceOptions": REDUCE_LAST,
               "showUnfilled": True, "valueMode": "color", "namePlacement": "auto"}
    return panel("bargauge", title, desc, [dict(t, instant=True, range=False) for t in targets], unit,
                 thresholds, size, options=options, color={"mode": "thresholds"})


BREAKER_LEGEND = "{{service}} → {{provider}}"


def breaker_matrix(title, desc):
    """The current state of each (service, provider) breaker, one coloured
    cell each."""
    options = {"colorMode": "background", "graphMode": "none", "justifyMode": "center",
               "orientation": "auto", "reduceOptions": REDUCE_LAST, "textMode": "value_and_name"}
    return panel("stat", title, desc, [target(sel("sse:provider_breaker_state", PROV), BREAKER_LEGEND, instant=True)],
                 "short", BREAKER_STEPS, (12, 8), options=options, mappings=BREAKER_MAPPINGS,
                 color={"mode": "thresholds"})


def breaker_timeline(title, desc):
    options = {"mergeValues": True, "showValue": "auto", "alignValue": "left", "rowHeight": 0.9,
               "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
               "tooltip": {"mode": "single", "sort": "none"}}
    custom = {"fillOpacity": 80, "lineWidth": 0}
    return panel("state-timeline", title, desc, [target(sel("sse:provider_breaker_state", PROV), BREAKER_LEGEND)],
                 "short", BREAKER_STEPS, (12, 8), custom, options, BREAKER_MAPPINGS, {"mode": "thresholds"})


def heatmap(title, desc, expr, unit):
    options = {"calculate": False, "cellGap": 1, "yAxis": {"axisPlacement": "left", "unit": unit},
               "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark-orange", "scale": "exponential",
                         "exponent": 0.5, "steps": 64, "reverse": False},
               "rowsFrame": {"layout": "auto"}, "legend": {"show": True},
               "tooltip": {"mode": "single", "yHistogram": False}, "filterValues": {"le": 1e-9}}
    return panel("heatmap", title, desc, [target(expr, "{{le}}", fmt="heatmap")], unit, options=options)


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "_size": (24, 1)}


def layout(panels):
    """Left to right, top to bottom on Grafana's 24-column grid; a row, or
    a panel that does not fit, starts a new line. Numbers the panels."""
    x = y = line_h = 0
    for i, p in enumerate(panels, 1):
        w, h = p.pop("_size")
        if x + w > 24 or p["type"] == "row":
            x, y, line_h = 0, y + line_h, 0
        p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        p["id"] = i
        x, line_h = x + w, max(line_h, h)
    return panels


# --- Template variables ----------------------------------------------------

def datasource_variable():
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [], "refresh": 1,
            "regex": "", "skipUrlSync": False}


def label_variable(name, label, selector):
    """A multi-select variable fed by the values of `name` on `selector`,
    with All matching every value, absence included (a process outside
    Kubernetes has no namespace label)."""
    query = "label_values(%s, %s)" % (selector, name)
    return {"name": name, "label": label, "type": "query", "datasource": DS, "definition": query,
            "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "hide": 0, "includeAll": True, "allValue": ".*", "multi": True, "options": [],
            "refresh": 2, "regex": "", "skipUrlSync": False, "sort": 1}


# Every process the exporter has seen has a sse_exporter_target_info series:
# services without SSE traffic yet are listed too.
VARIABLES = [
    datasource_variable(),
    label_variable("namespace", "Namespace", "sse_exporter_target_info"),
    label_variable("service", "Service", 'sse_exporter_target_info{namespace=~"$namespace"}'),
    label_variable("provider", "Provider", "sse_provider_requests_total{%s}" % SVC),
    # Models of the inbound requests and of the upstream calls.
    label_variable("model", "Model", '{__name__=~"sse_requests_total|sse_provider_requests_total", %s}'
                   % SVC),
]


def dashboard(uid, title, desc, refresh, time_from, panels):
    return {
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "description": desc,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [{"title": "SSE dashboards", "type": "dashboards", "tags": [TAG], "asDropdown": True,
                   "includeVars": True, "keepTime": True, "icon": "external link", "targetBlank": False,
                   "tooltip": "", "url": ""}],
        "panels": layout(panels),
        "refresh": refresh,
        "schemaVersion": SCHEMA_VERSION,
        "tags": [TAG],
        "templating": {"list": VARIABLES},
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


# --- The dashboards --------------------------------------------------------

def executive():
    return dashboard("sse-executive", "SSE / Executive", "Business KPIs of the SSE services: volume, "
                     "availability, response time, providers and tokens.", "5m", "now-24h", [
        row("Service level over the time range"),
        stat("Requests", "SSE requests ended in the time range (sse_requests_total).",
             "round(%s)" % agg("increase(%s[%s])" % (sel("sse_requests_total"), RANGE)), "short"),
        stat("Availability", "Share of SSE requests the services did not fail (5xx, timeouts, truncated "
             "streams; a client going away or a 429 is not a failure): 1 - the error ratio of the "
             "error-rate alerts. Red below 95 %, yellow below 98 %.",
             availability(RANGE), "percentunit", AVAILABILITY_STEPS),
        stat("Median response time (P50)", "First request byte to the end of the SSE request "
             "(sse_request_duration_seconds). The seeds' SLO: warning 200 ms, critical 500 ms.",
             quantile(0.5, "sse_request_duration_seconds", window=RANGE), "s", P50_STEPS),
        stat("Tokens", "Tokens of upstream LLM calls in the time range (llm_tokens_used_total, "
             "type total).", "round(%s)" % agg("increase(%s[%s])" % (
                 sel("llm_tokens_used_total", MODEL, 'type="total"'), RANGE)), "short"),
        row("Trend"),
        timeseries("Requests per second by service", "SSE requests ended per second.",
                   [target(rate("sse_requests_total", by=BY_SERVICE), "{{service}} {{namespace}}")], "reqps"),
        timeseries("Availability by service", "1 - sse:error_ratio:5m, the error-rate alerts' ratio. "
                   "The lines: 95 % and 98 %.",
                   [target("1 - %s" % sel("sse:error_ratio:5m"), "{{service}} {{namespace}}")], "percentunit",
                   AVAILABILITY_STEPS),
        row("Providers"),
        bargauge("Provider success rate", "Upstream calls to each provider that succeeded "
                 "(sse_provider_requests_total). Red below 95 %, yellow below 98 %.",
                 [target("%s / %s" % (rate("sse_provider_requests_total", PROV, 'status="success"', by=("provider",),
                                           window=RANGE),
                                      rate("sse_provider_requests_total", PROV, by=("provider",), window=RANGE)),
                         "{{provider}}")], "percentunit", AVAILABILITY_STEPS),
        bargauge("Tokens by provider and model", "Tokens of upstream calls in the time range, by provider "
                 "and model (llm_tokens_used_total, type total): what the providers bill.",
                 [target("sort_desc(round(%s))" % agg("increase(%s[%s])" % (
                     sel("llm_tokens_used_total", MODEL, 'type="total"'), RANGE), ("provider", "model")),
                     "{{provider}} {{model}}")], "short"),
    ])


LATENCY = ((0.5, "P50"), (0.95, "P95"), (0.99, "P99"))


def percentiles(metric, base=SVC, *extra):
    return [target(quantile(q, metric, base, *extra), name) for q, name in LATENCY]


def sre():
    return dashboard("sse-sre", "SSE / SRE operational", "Real-time health for the on-call engineer: "
                     "traffic, latency, capacity, errors, provider breakers, the exporter itself.",
                     "30s", "now-1h", [
        row("Now"),
        stat("Request rate (5 m)", "SSE requests ended per second over the last 5 minutes "
             "(sse:request_rate:5m).", agg(sel("sse:request_rate:5m")), "reqps"),
        stat("Error ratio (5 m)", "The worst of the selected services: failed SSE requests over all "
             "(sse:error_ratio:5m)." + alerts_named("SSEElevatedErrorRate", "SSEHighErrorRate"),
             "max(%s)" % sel("sse:error_ratio:5m"), "percentunit", ERROR_STEPS),
        stat("Stream capacity used", "The fullest of the selected services: streams open over its "
             "capacity (sse:capacity_utilization; sse:stream_capacity, 300 unless configured)."
             + alerts_named("SSECapacityTrending", "SSECapacityExhausted"),
             "max(%s)" % sel("sse:capacity_utilization"), "percentunit", CAPACITY_STEPS),
        stat("Providers out", "(service, provider) pairs whose circuit breaker opened and has not "
             "closed since (sse:provider_breaker_open)." + alerts_named("SSEProviderOutage"),
             "count(%s == 1) or vector(0)" % sel("sse:provider_breaker_open", PROV), "short",
             steps("green", (1, "red"))),
        row("Traffic"),
        timeseries("Request rate by service", "SSE requests ended per second.",
                   [target(rate("sse_requests_total", by=BY_SERVICE), "{{service}} {{namespace}}")], "reqps"),
        timeseries("Stream outcomes by status", "SSE requests ended per second by status: success, "
                   "failure, timeout, rate_limited (429), client_closed.",
                   [target(rate("sse_requests_total", by=("status",)), "{{status}}")], "reqps", stacked=True),
        row("Latency"),
        timeseries("Request latency", "First request byte to the end of the SSE request "
                   "(sse_request_duration_seconds): for a stream, its whole life.",
                   percentiles("sse_request_duration_seconds"), "s"),
        timeseries("Time to first chunk", "Last request byte to the first data event written "
                   "(sse_time_to_first_chunk_seconds), for the selected models: the wait before a "
                   "response streams." + alerts_named("SSEHighLatency", on="P99"),
                   percentiles("sse_time_to_first_chunk_seconds", SVC, 'model=~"$model"'), "s", TTFT_STEPS),
        row("Capacity"),
        timeseries("Active streams against capacity", "SSE streams open now per service "
                   "(sse:active_streams), its capacity (sse:stream_capacity) and the share of it "
                   "SSECapacityExhausted fires above.", [
                       target(sel("sse:active_streams"), "{{service}} {{namespace}}"),
                       target(sel("sse:stream_capacity"), "{{service}} capacity"),
                       target("%g * %s" % (CAPACITY_CRITICAL, sel("sse:stream_capacity")),
                              "{{service}} %g %% of capacity" % (100 * CAPACITY_CRITICAL))], "short"),
        timeseries("Capacity used by service", "Open streams over the capacity (sse:capacity_utilization); "
                   "80 %: the seeds' scale-out line." + alerts_named("SSECapacityTrending", "SSECapacityExhausted"),
                   [target(sel("sse:capacity_utilization"), "{{service}} {{namespace}}")], "percentunit",
                   CAPACITY_STEPS),
        row("Errors"),
        timeseries("Errors by type", "Failed SSE requests per second by error_type and the stage they "
                   "failed in (sse_errors_total).",
                   [target(rate("sse_errors_total", by=("error_type", "stage")), "{{error_type}} ({{stage}})")],
                   "reqps", stacked=True),
        timeseries("Error ratio by service", "Failed SSE requests over all, 5-minute windows "
                   "(sse:error_ratio:5m)." + alerts_named("SSEElevatedErrorRate", "SSEHighErrorRate"),
                   [target(sel("sse:error_ratio:5m"), "{{service}} {{namespace}}")], "percentunit", ERROR_STEPS),
        timeseries("Rate-limited share by service", "SSE requests answered 429 over all "
                   "(sse:rate_limited_ratio:5m)." + alerts_named("SSEElevatedRateLimiting", "SSEHighRateLimiting"),
                   [target(sel("sse:rate_limited_ratio:5m"), "{{service}} {{namespace}}")], "percentunit",
                   RATE_LIMITED_STEPS),
        timeseries("Requests not counted by service", "Requests and upstream calls whose outcome the "
                   "exporter could not tell, over all (sse:exchanges_lost_ratio:5m)."
                   + alerts_named("SSEExporterExchangesLost"),
                   [target(sel("sse:exchanges_lost_ratio:5m"), "{{service}} {{namespace}}")], "percentunit",
                   steps("green", (EXCHANGES_LOST_WARNING, "red"))),
        row("Providers"),
        breaker_matrix("Circuit breakers now", "Each (service, provider) breaker: closed, half-open, open "
                       "(sse:provider_breaker_state: the state a breaker in the client would be in, inferred "
                       "from the calls' outcomes)."),
        breaker_timeline("Circuit breaker history", "The breakers' states over time."),
        timeseries("Breaker failures per minute", "Calls a client's breaker counts as failed, per "
                   "minute (sse:provider_failure_rate:5m); above 5 the breaker opens."
                   + alerts_named("SSEProviderFailuresElevated"),
                   [target("60 * %s" % sel("sse:provider_failure_rate:5m", PROV), "{{service}} → {{provider}}")],
                   "short", BREAKER_FAILURE_STEPS),
        timeseries("Provider error ratio", "Upstream calls that did not succeed, over all "
                   "(sse:provider_error_ratio:5m)." + alerts_named("SSEProviderHighErrorRate"),
                   [target(sel("sse:provider_error_ratio:5m", PROV), "{{service}} → {{provider}}")],
                   "percentunit", PROVIDER_ERROR_STEPS),
        timeseries("Provider calls by status", "Upstream calls ended per second by provider and status "
                   "(sse_provider_requests_total).",
                   [target(rate("sse_provider_requests_total", PROV, by=("provider", "status")),
                           "{{provider}} {{status}}")], "reqps", size=(24, 8)),
        row("Exporter"),
        timeseries("Events lost by the exporter", "Kernel records the exporter could not read, per "
                   "second and node (sse_exporter_events_lost_total): above 0, counts may be low "
                   "(SSEExporterEventsLost).",
                   [target("sum by (instance) (rate(sse_exporter_events_lost_total[%s]))" % RATE,
                           "{{instance}}")], "short"),
        timeseries("eBPF programs attached", "Programs attached per node "
                   "(sse_exporter_bpf_program_attached); one gone: /health answers degraded "
                   "(SSEExporterProgramDetached).",
                   [target("sum by (instance) (sse_exporter_bpf_program_attached)", "{{instance}}")], "short"),
        timeseries("Streams counted without their events", "Compressed SSE streams whose events "
                   "the exporter could not split, per second, node and reason "
                   "(sse_exporter_streams_undecoded_total): limit, over 1,024 at once; br or "
                   "unsupported, a coding it does not read (SSEExporterStreamsUndecoded).",
                   [target("sum by (instance, reason) (rate(sse_exporter_streams_undecoded_total[%s]))"
                           % RATE, "{{instance}} {{reason}}")], "short"),
    ])


def performance():
    return dashboard("sse-performance", "SSE / Performance engineering", "Where the time goes: stages, "
                     "streams, chunks, providers, tokens.", "1m", "now-6h", [
        row("Stages"),
        bargauge("Stage latency P50 and P95", "The observable phases of SSE requests "
                 "(sse_stage_duration_seconds): queue (accept to first request byte), first_byte, "
                 "first_chunk, streaming, total.",
                 [target(quantile(q, "sse_stage_duration_seconds", by=("stage",)), "{{stage}} %s" % name)
                  for q, name in LATENCY[:2]], "s"),
        timeseries("Stage latency P95 over time", "P95 of each stage.",
                   [target(quantile(0.95, "sse_stage_duration_seconds", by=("stage",)), "{{stage}}")], "s"),
        timeseries("Stream duration", "Response head to stream end (sse_stream_duration_seconds)."
                   + alerts_named("SSELongStreams", on="P99"),
                   [target(quantile(q, "sse_stream_duration_seconds"), name) for q, name in LATENCY[::2]], "s",
                   steps("green", (LONG_STREAMS_S, "red"))),
        timeseries("Gap between chunks", "Time between consecutive data events of a stream "
                   "(sse_inter_chunk_gap_seconds).", percentiles("sse_inter_chunk_gap_seconds"), "s"),
        timeseries("Time to first chunk P95 by model", "Inbound: last request byte to the first data "
                   "event written (sse_time_to_first_chunk_seconds).",
                   [target(quantile(0.95, "sse_time_to_first_chunk_seconds", SVC, 'model=~"$model"',
                                    by=("model",)), "{{model}}")], "s"),
        timeseries("Non-streaming HTTP latency P95 by path", "Requests answered by the services, to the "
                   "response head for a stream (http_request_duration_seconds).",
                   [target(quantile(0.95, "http_request_duration_seconds", by=("path",)), "{{path}}")], "s"),
        row("Providers"),
        bargauge("Provider latency", "Last request byte written to the end of each upstream call, by "
                 "provider (sse_provider_latency_seconds). The seeds' SLA: P95 under 2 s, P99 under 5 s.",
                 [target(quantile(q, "sse_provider_latency_seconds", PROV, by=("provider",)),
                         "{{provider}} %s" % name) for q, name in LATENCY], "s",
                 steps("green", (PROVIDER_P95_S, "yellow"), (PROVIDER_P99_S, "red"))),
        heatmap("Provider latency distribution", "Upstream calls per second in each latency bucket, "
                "selected providers together.",
                agg("rate(%s[%s])" % (sel("sse_provider_latency_seconds_bucket", PROV), RATE), ("le",)), "s"),
        timeseries("Provider time to first chunk P95", "Last request byte written to the first data "
                   "event read, by provider and model (sse_provider_time_to_first_chunk_seconds).",
                   [target(quantile(0.95, "sse_provider_time_to_first_chunk_seconds", MODEL,
                                    by=("provider", "model")), "{{provider}} {{model}}")], "s"),
        timeseries("Tokens per second by provider and model", "Prompt and completion tokens of upstream "
                   "calls (llm_tokens_used_total), counted when a call ends.",
                   [target(rate("llm_tokens_used_total", MODEL, 'type=~"prompt|completion"',
                                by=("provider", "model", "type")), "{{provider}} {{model}} {{type}}")],
                   "short", stacked=True),
        row("Connections and chunks"),
        timeseries("Open connections and streams", "Accepted TCP connections open "
                   "(http_connections_active) and SSE streams open (sse_active_connections) per service: "
                   "the pool's size itself is inside the process.", [
                       target(agg(sel("http_connections_active"), BY_SERVICE), "{{service}} connections"),
                       target(agg(sel("sse_active_connections"), BY_SERVICE), "{{service}} streams")], "short"),
        timeseries("Chunks per stream", "Data events written per successful SSE request "
                   "(sse_chunks_streamed_total over sse_requests_total); the seeds: under 5 critical, "
                   "5 to 10 degraded.", [target("%s / %s" % (rate("sse_chunks_streamed_total", by=BY_SERVICE),
                                                                rate("sse_requests_total", SVC, 'status="success"',
                                                                     by=BY_SERVICE)), "{{service}} {{namespace}}")],
                   "short", steps("red", (CHUNKS_DEGRADED, "yellow"), (CHUNKS_HEALTHY, "green"))),
        timeseries("Chunks per second by provider", "Data events written to clients, by the provider "
                   "that fed the stream (unknown when not one) (sse_chunks_streamed_total).",
                   [target(rate("sse_chunks_streamed_total", by=("provider",)), "{{provider}}")], "short"),
        timeseries("Chunk size", "Bytes of each data event on the wire (sse_chunk_size_bytes).",
                   [target(quantile(q, "sse_chunk_size_bytes"), name) for q, name in LATENCY[:2]], "bytes"),
    ])


DASHBOARDS = {"executive.json": executive, "sre-operational.json": sre,
              "performance-engineering.json": performance}


def render(dash):
    return json.dumps(dash, indent=2, ensure_ascii=False) + "\n"


def generated():
    """{file name: JSON text} of every dashboard."""
    return {name: render(make()) for name, make in DASHBOARDS.items()}


CONFIGMAPS = os.path.join(HERE, "..", "kubernetes", "grafana-dashboards.yaml")
CONFIGMAPS_HEADER = """\
# The dashboards of deploy/grafana/, one ConfigMap each, labelled for the
# Grafana sidecar (grafana_dashboard: "1": the kube-prometheus-stack and
# Grafana Helm charts load such ConfigMaps). Generated by
# deploy/grafana/dashboards.py with the JSON files: edit that, run it.
"""


def configmaps(texts):
    """The ConfigMaps' YAML for {file name: JSON text}: one per dashboard,
    as `kubectl apply` keeps a copy of each object in an annotation of at
    most 256 KiB."""
    docs = []
    for name, text in sorted(texts.items()):
        body = "".join("    " + line + "\n" for line in text.splitlines())
        docs.append("apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                    "  name: sse-exporter-dashboard-%s\n  namespace: monitoring\n"
                    "  labels:\n    app.kubernetes.io/name: sse-exporter\n"
                    "    grafana_dashboard: \"1\"\ndata:\n  %s: |\n%s"
                    % (name[:-len(".json")], name, body))
    return CONFIGMAPS_HEADER + "---\n".join(docs)


def main():
    texts = generated()
    for name, text in texts.items():
        with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
            f.write(text)
    with open(CONFIGMAPS, "w", encoding="utf-8") as f:
        f.write(configmaps(texts))


if __name__ == "__main__":
    main()
