"""Processes outside containers keep their identity (issue 11, point 5):
a server in a systemd unit's cgroup is service = the unit's name, a plain
process is service = its comm, neither with container, namespace or pod.

systemd is not PID 1 here (nor in CI), so the unit's cgroup is made as
systemd makes it: /system.slice/NAME.service in each hierarchy systemd
manages (name=systemd on v1 and hybrid hosts, and cgroup2), and the
server enters it before its exec, as a unit's main process does. Both
servers are servers/stdlib_sse.py under comms of their own.
"""
from pathlib import Path

import identity
import isolated
import launch
import procs
from flag_cases import remove_cgroups
from framework import expect

# Enters the cgroups given before "--", then execs the rest.
ENTER_CGROUPS = ('while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 1; shift; done; '
                 'shift; exec "$@"')
UNIT_SLICE = "system.slice"


def systemd_hierarchies():
    """Mount points of the hierarchies where systemd puts units."""
    with open("/proc/self/mounts") as f:
        return [Path(fields[1]) for fields in (line.split() for line in f)
                if fields[2] == "cgroup2" or (fields[2] == "cgroup" and "name=systemd" in fields[3].split(","))]


class Host:
    def __init__(self, tmp):
        uid = isolated.short_uid()
        self.unit = "sse-e2e-%s.service" % uid
        self.made, self.servers, self.exp = [], [], None
        try:
            self.exp = identity.start_exporter(tmp, "host")
            dirs = [self.make_cgroup(root) for root in systemd_hierarchies()]
            expect(dirs, "no cgroup hierarchy of systemd's mounted")
            self.targets = [self.start(tmp, "usrv-" + uid, identity.who(self.unit[:-len(".service")]), dirs),
                            self.start(tmp, "plain-" + uid, identity.who("plain-" + uid), [])]
        except BaseException:   # an interrupted run too
            self.stop()
            raise

    def make_cgroup(self, root):
        """root/system.slice/UNIT, remembering what was made to remove it."""
        d = root / UNIT_SLICE / self.unit
        for part in (d.parent, d):
            if not part.exists():
                part.mkdir()
                self.made.append(part)
        return d

    def start(self, tmp, name, labels, cgroups):
        port = procs.free_port()
        argv = ["/bin/sh", "-c", ENTER_CGROUPS, "sh", *map(str, cgroups), "--",
                str(isolated.alias(tmp, launch.PYTHON, name)), str(launch.SERVERS / "stdlib_sse.py"), str(port)]
        child = procs.spawn("%s-%d" % (name, port), argv, tmp)
        self.servers.append(child)
        target = identity.Target(name, port, labels)
        target.probes = identity.wait_ready(port, child.alive, child.tail)
        expect(isolated.comm_of(child.pid) == name, "ground truth: %s runs as %r", name, isolated.comm_of(child.pid))
        lines = Path("/proc/%d/cgroup" % child.pid).read_text().splitlines()
        inside = [line for line in lines if line.endswith(":/%s/%s" % (UNIT_SLICE, self.unit))]
        expect(len(inside) == len(cgroups), "ground truth: %s is in %d of the unit's %d cgroups: %s", name,
               len(inside), len(cgroups), lines)
        return target

    def stop(self):
        for child in self.servers:
            procs.stop(child)
        remove_cgroups(self.made)
        if self.exp is not None:
            self.exp.stop()


def groups(tmp):
    return [identity.group(lambda: Host(tmp), [("ident:unit_and_plain_first_requests", identity.case_first_requests),
                                               ("ident:unit_and_plain", identity.case_streams)])]
