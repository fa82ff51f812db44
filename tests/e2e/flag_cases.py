"""Flags started for real: --web.telemetry-path, --cgroup, --no-tls and
--tls.scan-interval=0 with the capability drop.

Each group starts its own exporters with the flag under test (never the
suite's shared one) and servers under names of their own (isolated.py:
a copy of the Go server or a python3 symlink named for the case),
so a `service` label sees no foreign traffic. Every absence a case asserts
(a server not observed, a TLS stream not counted, a capability gone) comes
with a control that shows the same check sees the presence: a server that
is observed, the same stream counted by an exporter with TLS hooked, the
capability still there with the default flags.
"""
import json
import os
import time
from pathlib import Path

import client
import isolated
import checks
import launch
import metrics
import procs
from checks import inc
from framework import Failure, Group, expect


def stop_all(exps, servers):
    for exp in exps:
        exp.stop()
    for srv in servers:
        launch.stop_server(srv)


def service_names(samples):
    return {dict(lbl)["service"] for (_, lbl) in samples if "service" in dict(lbl)}


def sse_exchange(srv, tag):
    """One plain GET and one 3-event SSE stream on a keep-alive connection;
    returns (get path, SSE path label) once the client got both whole."""
    get_path = "/items/%s/get" % tag
    sse_path, label = "/events/%s/%s" % (tag, isolated.uid()), "/events/%s/:id" % tag
    resps = srv.keep_alive([client.get(get_path), client.events(sse_path, {"events": 3})])
    expect(resps[0].status == 200 and resps[1].status == 200 and resps[1].complete
           and resps[1].data_events == 3, "ground truth (%s): %r", srv.name,
           [(r.status, r.complete, r.data_events) for r in resps])
    return get_path, label


def exchange_counted(svc, get_path, label):
    """What an exporter that observes svc counts for one sse_exchange."""
    return [inc("http_requests_total", 1, service=svc, path=get_path, status="200"),
            inc("http_requests_total", 1, service=svc, path=label, status="200"),
            inc("sse_requests_total", 1, service=svc, path=label, status="success", code="200"),
            inc("sse_chunks_streamed_total", 3, service=svc, path=label)]


def exchange_not_counted(svc):
    """Nothing counted for svc: what an exporter that does not see it does."""
    return [inc("http_requests_total", 0, service=svc), inc("sse_requests_total", 0, service=svc)]


# --------------------------------------------------------------------------
# --web.telemetry-path
# --------------------------------------------------------------------------

TELEMETRY_PATH = "/custom"


class Telemetry:
    """An exporter with --web.telemetry-path=/custom."""

    def __init__(self, tmp):
        # --pid=1: init serves nothing, so the exporter stays idle.
        self.exp = isolated.start_exporter(tmp, "telemetry", ["--web.telemetry-path=" + TELEMETRY_PATH, "--pid=1"])

    def stop(self):
        self.exp.stop()


def case_telemetry_path(fx):
    """The metrics are served at PATH (text) and PATH/json, and no longer at
    /metrics or /metrics/json; /health does not move."""
    port = fx.exp.port
    status, headers, body = metrics.fetch(port, TELEMETRY_PATH)
    expect(status == 200, "GET %s answered %d: %s", TELEMETRY_PATH, status, body[:200])
    ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    expect(ctype.startswith("text/plain") and "version=0.0.4" in ctype, "%s Content-Type %r",
           TELEMETRY_PATH, ctype)
    text_names = metrics.names(metrics.parse(body))
    expect("sse_exporter_build_info" in text_names, "GET %s has no sse_exporter_build_info: %r",
           TELEMETRY_PATH, body[:300])
    status, _, body = metrics.fetch(port, TELEMETRY_PATH + "/json")
    expect(status == 200, "GET %s/json answered %d: %s", TELEMETRY_PATH, status, body[:200])
    try:
        families = {f["name"] for f in json.loads(body)["metrics"]}
    except (ValueError, KeyError, TypeError) as e:
        raise Failure("GET %s/json is not the JSON exposition: %s: %r" % (TELEMETRY_PATH, e, body[:200])) \
            from None
    expect("sse_exporter_build_info" in families, "%s/json lacks sse_exporter_build_info: %s",
           TELEMETRY_PATH, sorted(families))
    for path in ("/metrics", "/metrics/json"):
        status, _, body = metrics.fetch(port, path)
        expect(status == 404, "GET %s answered %d with --web.telemetry-path=%s (want 404): %s",
               path, status, TELEMETRY_PATH, body[:120])
    status, _, body = metrics.fetch(port, "/health")
    expect(status == 200, "GET /health answered %d: %s", status, body[:200])


# --------------------------------------------------------------------------
# --cgroup
# --------------------------------------------------------------------------

def cgroup2_root():
    """Mount point of the cgroup v2 hierarchy: /sys/fs/cgroup/unified on a
    hybrid host (v1 controllers + unified), /sys/fs/cgroup on a v2 host."""
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return Path(fields[1])
    raise RuntimeError("no cgroup2 hierarchy mounted (looked in /proc/self/mounts)")


def cgroup_of(pid):
    """The v2 path of pid (the `0::PATH` line of /proc/PID/cgroup)."""
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    return None


# Enters the cgroup directory $1 before exec'ing the server ("$@" after the
# shift: binary and port), so the server is in it from its first instruction.
ENTER_CGROUP = 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"'


def start_go_in(tmp, name, cgdir):
    return isolated.start_server(tmp, name, ["/bin/sh", "-c", ENTER_CGROUP, "sh", cgdir, isolated.go_binary(tmp, name)])


class Cgroup:
    """cgroups /e2e-cg-N (selected), /e2e-cg-N/late (below it) and
    /e2e-cg-N-other (a sibling whose name only starts like it); servers
    `in` (before the exporter) and `late` (after it: found at exec) in the
    selected tree, `out` in the sibling. The exporter: --cgroup=/e2e-cg-N."""

    def __init__(self, tmp):
        n = isolated.short_uid()
        root = cgroup2_root()
        self.rel = "/e2e-cg-%s" % n
        self.dirs = [root / self.rel[1:], root / self.rel[1:] / "late", root / (self.rel[1:] + "-other")]
        self.servers, self.exp = {}, None
        try:
            for d in self.dirs:
                d.mkdir()
            self.servers["in"] = start_go_in(tmp, "cg_in_" + n, self.dirs[0])
            self.servers["out"] = start_go_in(tmp, "cg_out_" + n, self.dirs[2])
            self.exp = isolated.start_exporter(tmp, "cgroup", ["--cgroup=" + self.rel])
            self.servers["late"] = start_go_in(tmp, "cg_late_" + n, self.dirs[1])
        except Exception:
            self.stop()
            raise

    def stop(self):
        stop_all([self.exp] if self.exp else [], self.servers.values())
        remove_cgroups(self.dirs)


def remove_cgroups(dirs, timeout=5.0):
    """rmdir, children first; a cgroup is busy until its last process is
    reaped, so retry for a while."""
    deadline = time.monotonic() + timeout
    for d in sorted(dirs, key=lambda p: len(str(p)), reverse=True):
        while d.exists():
            try:
                d.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    print("NOTE could not remove cgroup %s" % d, flush=True)
                    break
                time.sleep(0.05)


SELECT_TIMEOUT_S = 5.0


def selected(exp, srv):
    """Baseline scrape once the exporter observes srv, a process started
    after it: it is selected when the exporter has handled its exec, a
    moment after the exec, and what the server did before that (its
    launcher's readiness GET) may be missed. GETs until one is counted."""
    path, label = "/items/fl-probe/%s" % isolated.uid(), "/items/fl-probe/:id"
    deadline = time.monotonic() + SELECT_TIMEOUT_S
    while True:
        expect(srv.request(client.get(path)).status == 200, "ground truth: GET %s failed", path)
        ok, samples = metrics.wait_for(exp.port, lambda s: metrics.total(
            s, "http_requests_total", service=srv.service, path=label) >= 1
            and metrics.total(s, "http_connections_active", service=srv.service) == 0, 0.5)
        if ok:
            return samples
        expect(time.monotonic() < deadline, "%s (started after the exporter) not observed within %.0f s",
               srv.service, SELECT_TIMEOUT_S)


def case_cgroup(fx):
    """Servers in the cgroup (or below it), started before or after the
    exporter, are observed; a server in a sibling cgroup whose path only
    starts with the same characters is not, nor is any other process of
    the host (this runner included)."""
    exp, srvs = fx.exp, fx.servers
    for key, want in (("in", fx.rel), ("late", fx.rel + "/late"), ("out", fx.rel + "-other")):
        got = cgroup_of(srvs[key].children[0].pid)
        expect(got == want, "ground truth: server %s is in cgroup %r, not %r", key, got, want)
    before = selected(exp, srvs["late"])
    expects = []
    for key in ("in", "late", "out"):
        get_path, label = sse_exchange(srvs[key], "fl-cg-" + key)
        svc = srvs[key].service
        expects += exchange_not_counted(svc) if key == "out" else exchange_counted(svc, get_path, label)
    after = exp.settle(before, expects)
    wanted = {srvs["in"].service, srvs["late"].service}
    others = service_names(after) - wanted
    expect(not others, "services outside %s observed: %s", fx.rel, sorted(others))


# --------------------------------------------------------------------------
# --no-tls
# --------------------------------------------------------------------------

def start_tls_fastapi(tmp, name):
    """FastAPI over HTTPS (Python's ssl, the system libssl) under comm `name`."""
    ctx, tls_args = launch.tls_setup(tmp, True)
    port = procs.free_port()
    argv = [str(isolated.alias(tmp, launch.PYTHON, name)), str(launch.SERVERS / "fastapi_sse.py"), str(port)]
    child = procs.spawn("%s-%d" % (name, port), argv + tls_args, tmp)
    server = launch.Server(name, name[:15], port, [child], ctx)
    try:
        procs.wait_http(child, port, tls=ctx, timeout=30.0)
        comm = isolated.comm_of(child.pid)
        expect(comm == server.service, "server %s runs as comm %r", name, comm)
    except Exception:
        launch.stop_server(server)
        raise
    return server


def fdinfo_values(pid, key):
    """`key` of every fd of the process that has one (/proc/PID/fdinfo)."""
    out = []
    fdinfo = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                for line in f:
                    if line.startswith(key + ":"):
                        out.append(line.split(":", 1)[1].strip())
        except OSError:
            continue
    return out


def link_types(pid):
    """link_type of every BPF link fd the process holds."""
    return fdinfo_values(pid, "link_type")


BPF_PROG_TYPE_KPROBE = "2"   # uprobe programs are of this type


class NoTls:
    """A TLS server and a plaintext one; exporter `notls` (--no-tls) and
    the control `tls` (default flags), both selecting both servers."""

    def __init__(self, tmp):
        n = isolated.short_uid()
        self.servers, self.exps = {}, {}
        try:
            self.servers["tls"] = start_tls_fastapi(tmp, "nt_tls_" + n)
            self.servers["plain"] = isolated.start_go(tmp, "nt_plain_" + n)
            pids = ["--pid=%d" % s.children[0].pid for s in self.servers.values()]
            self.exps = isolated.start_exporters(tmp, {"notls": ["--no-tls"] + pids, "tls": pids})
        except Exception:
            self.stop()
            raise

    def stop(self):
        stop_all(self.exps.values(), self.servers.values())


def own_links(exp):
    """(link types held, number of sse_exporter_bpf_program_attached series)."""
    attached = metrics.select(exp.scrape(), "sse_exporter_bpf_program_attached")
    return link_types(exp.child.pid), len(attached)


def case_no_tls(fx):
    """--no-tls: a TLS server's exchanges are not counted (the socket hooks
    see only ciphertext), sse_exporter_tls_libraries is 0 or absent, and
    the exporter holds no link beyond its required programs (no uprobe);
    plaintext is still counted. The default exporter, watching the same
    servers, counts the TLS exchange and holds uprobe links: the control."""
    tls_srv, plain = fx.servers["tls"], fx.servers["plain"]
    before = {k: e.scrape() for k, e in fx.exps.items()}
    tls_get, tls_label = sse_exchange(tls_srv, "fl-notls-tls")
    plain_get, plain_label = sse_exchange(plain, "fl-notls-plain")
    fx.exps["tls"].settle(before["tls"], exchange_counted(tls_srv.service, tls_get, tls_label)
                          + exchange_counted(plain.service, plain_get, plain_label))
    after = fx.exps["notls"].settle(before["notls"], exchange_not_counted(tls_srv.service)
                                    + exchange_counted(plain.service, plain_get, plain_label))
    libs = metrics.select(after, "sse_exporter_tls_libraries")
    expect(all(v == 0 for v in libs.values()), "--no-tls: sse_exporter_tls_libraries %r", list(libs.values()))
    control = metrics.total(fx.exps["tls"].scrape(), "sse_exporter_tls_libraries")
    expect(control >= 1, "control: the default exporter hooks %s OpenSSL copies", control)
    types, programs = own_links(fx.exps["notls"])
    expect(programs > 0 and len(types) == programs and not any("uprobe" in t for t in types),
           "--no-tls: %d links held (%s) for %d required programs",
           len(types), ", ".join(sorted(types)), programs)
    types, programs = own_links(fx.exps["tls"])
    expect(len(types) > programs, "control: the default exporter holds %d links for %d programs: no uprobe",
           len(types), programs)
    # --no-tls does not even load the OpenSSL programs (a kernel that
    # refused them would otherwise stop plaintext capture too)
    notls = fdinfo_values(fx.exps["notls"].child.pid, "prog_type").count(BPF_PROG_TYPE_KPROBE)
    tls = fdinfo_values(fx.exps["tls"].child.pid, "prog_type").count(BPF_PROG_TYPE_KPROBE)
    expect(notls == 0 and tls > 0, "uprobe programs loaded: %d with --no-tls, %d by default", notls, tls)


# --------------------------------------------------------------------------
# --tls.scan-interval=0 and the capability drop
# --------------------------------------------------------------------------

CAPS = {2: "CAP_DAC_READ_SEARCH", 19: "CAP_SYS_PTRACE", 21: "CAP_SYS_ADMIN", 38: "CAP_PERFMON",
        39: "CAP_BPF"}
# user/kernel/caps.c: /proc of other processes needs these two for good; uprobes
# on OpenSSL copies found after start need CAP_SYS_ADMIN (perf event),
# CAP_PERFMON and CAP_BPF, kept only while scanning for them.
KEEP_ALWAYS = {2, 19}
KEEP_SCANNING = KEEP_ALWAYS | {21, 38, 39}
NONROOT_KEPT = KEEP_ALWAYS | {38, 39}   # no CAP_SYS_ADMIN granted: none kept
CAPS_TIMEOUT_S = 5.0


def cap_sets(pid, status="/proc/%d/status"):
    """{CapEff, CapPrm, CapBnd: set of capability numbers, NoNewPrivs: int}."""
    out = {}
    with open(status % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("CapEff", "CapPrm", "CapBnd"):
                bits = int(value.strip(), 16)
                out[key] = {i for i in range(64) if bits >> i & 1}
            elif key == "NoNewPrivs":
                out[key] = int(value.strip())
    return out


def cap_names(caps):
    return "{%s}" % ", ".join(CAPS.get(c, "cap%d" % c) for c in sorted(caps))


def wait_caps(pid, want):
    """The exporter drops its capabilities after it answers /health (the
    endpoint starts before the drop): poll until CapEff is `want`."""
    deadline = time.monotonic() + CAPS_TIMEOUT_S
    while True:
        caps = cap_sets(pid)
        if caps["CapEff"] == want or time.monotonic() > deadline:
            return caps
        time.sleep(0.05)


NOBODY = 65534
# What a user who is not root grants: load and attach, read /proc.
NONROOT_CAPS = "+bpf,+perfmon,+sys_ptrace,+dac_read_search"


def start_nonroot_exporter(tmp, args, caps=NONROOT_CAPS):
    """An exporter run as nobody with caps as ambient capabilities (what a
    container's `USER 65534` with added capabilities gets)."""
    port = procs.free_port()
    setpriv = ["/usr/bin/setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
               "--inh-caps", caps, "--ambient-caps", caps]
    exe = str(launch.REPO / launch.EXPORTER)
    child = procs.spawn("sse_exporter-nonroot-%d" % port, setpriv + [
        exe, "--web.listen-address=127.0.0.1:%d" % port, "--sweep.interval=%d" % isolated.SWEEP_S] + args,
        tmp, cwd="/")
    try:
        procs.wait_http(child, port, "/health", timeout=30.0)
    except RuntimeError as e:
        procs.stop(child)
        raise RuntimeError("non-root exporter never healthy: %s\n%s" % (e, child.log.read_text(errors="replace")))
    checks.register_sweep(port, isolated.SWEEP_S)
    return isolated.Exp(child, port)


class Caps:
    """One Go server; exporters `scan0` (--tls.scan-interval=0), `default`,
    `nonroot` (nobody with four capabilities) and `blind` (nobody without
    CAP_SYS_PTRACE: it may load programs, not read the server's /proc/PID/fd),
    each selecting the
    server."""

    def __init__(self, tmp):
        self.server, self.exps = isolated.start_go(tmp, "caps_go_" + isolated.short_uid()), {}
        try:
            pid = "--pid=%d" % self.server.children[0].pid
            self.exps = isolated.start_exporters(tmp, {"scan0": ["--tls.scan-interval=0", pid], "default": [pid]})
            self.exps["nonroot"] = start_nonroot_exporter(tmp, [pid])
            self.exps["blind"] = start_nonroot_exporter(tmp, [pid], "+bpf,+perfmon,+dac_read_search")
        except Exception:
            self.stop()
            raise

    def stop(self):
        stop_all(self.exps.values(), [self.server])


def caps_case(which, want, sets=("CapEff", "CapPrm", "CapBnd")):
    """sets: those that must be exactly want (a process that is not root
    cannot lower its bounding set)."""
    def case(fx):
        exp = fx.exps[which]
        caps = wait_caps(exp.child.pid, want)
        for key in sets:
            expect(caps[key] == want, "%s exporter %.0f s after start: %s lacks %s, has also %s (want %s)",
                   which, CAPS_TIMEOUT_S, key, cap_names(want - caps[key]), cap_names(caps[key] - want),
                   cap_names(want))
        expect(caps.get("NoNewPrivs") == 1, "%s NoNewPrivs %r", which, caps.get("NoNewPrivs"))
        # The other threads (the HTTP server's) serve the network: nothing.
        pid = exp.child.pid
        threads = [int(t) for t in os.listdir("/proc/%d/task" % pid) if int(t) != pid]
        expect(threads, "%s exporter has no thread but its main one", which)
        for tid in threads:
            tcaps = cap_sets(tid, "/proc/%d/task/%%d/status" % pid)
            expect(not tcaps["CapEff"] and not tcaps["CapPrm"], "%s exporter thread %d (%s) keeps %s",
                   which, tid, isolated.comm_of(tid), cap_names(tcaps["CapEff"] | tcaps["CapPrm"]))
        # What it kept is enough to go on observing.
        before = exp.scrape()
        get_path, label = sse_exchange(fx.server, "fl-caps-" + which)
        exp.settle(before, exchange_counted(fx.server.service, get_path, label))
    case.__doc__ = ("Capabilities left to the %s exporter once started are exactly %s (%s), none in "
                    "its other threads (the HTTP server's), and it still counts its server's traffic."
                    % (which, cap_names(want), ", ".join(sets)))
    return case


def case_blind_sweep(fx):
    """An exporter that cannot read the server's /proc/PID/fd (no
    CAP_SYS_PTRACE) must not take its streams for closed: one that outlives
    several sweeps is counted whole, and the log says what is missing."""
    exp, srv = fx.exps["blind"], fx.server
    path, label = "/events/fl-blind/%s" % isolated.uid(), "/events/fl-blind/:id"
    before = exp.scrape()
    resp = srv.request(client.events(path, {"events": 4, "interval_ms": 1000}))
    expect(resp.status == 200 and resp.complete and resp.data_events == 4, "ground truth: %r",
           (resp.status, resp.complete, resp.data_events))
    exp.settle(before, [inc("sse_requests_total", 1, service=srv.service, path=label, status="success"),
                        inc("sse_chunks_streamed_total", 4, service=srv.service, path=label),
                        inc("sse_exporter_exchanges_lost_total", 0, service=srv.service)])
    log = exp.child.log.read_text(errors="replace")
    expect("is not readable" in log, "no word of the unreadable /proc in the log: %r", log[-500:])


# --------------------------------------------------------------------------

def groups(tmp):
    return [
        Group(lambda: Telemetry(tmp), [("flags:telemetry_path", case_telemetry_path)], lambda fx: fx.stop()),
        Group(lambda: Cgroup(tmp), [("flags:cgroup", case_cgroup)], lambda fx: fx.stop()),
        Group(lambda: NoTls(tmp), [("flags:no_tls", case_no_tls)], lambda fx: fx.stop()),
        Group(lambda: Caps(tmp), [("flags:caps_scan_interval_0", caps_case("scan0", KEEP_ALWAYS)),
                                  ("flags:caps_default", caps_case("default", KEEP_SCANNING)),
                                  ("flags:caps_not_root", caps_case("nonroot", NONROOT_KEPT, ("CapEff", "CapPrm"))),
                                  ("flags:caps_blind_sweep", case_blind_sweep)],
              lambda fx: fx.stop()),
    ]
