#!/usr/bin/python3
"""The kernel matrix (make kernel-test): boots each kernel of
scripts/kernel_images.sh in qemu (TCG, one VM at a time, niced) with the
initramfs of tests/kernel/initramfs.sh, whose init runs the exporter and
the SSE pair and prints one KTEST-RESULT line; checks it against what is
expected of that kernel. One line per kernel, then the verdict.

A kernel expected to fail must fail with its exact error: the day it loads,
the matrix says so and the expectation here is to change.

  tests/kernel/run.py [--kernels=DIR] [--log-level=debug] [--timeout=S] [RELEASE...]

DIR (build/kernels) holds each release's vmlinuz and initramfs.cpio.gz; each
VM's console is kept as DIR/RELEASE/console.log.
"""
import argparse
import os
import re
import subprocess
import sys
import time


# What each kernel must do: load and count exactly (None), or fail to
# start with this error. Each must load the BPF build its features call
# for (bpf/features.bpf.h): the compat one below 5.17.
EXPECTED = {
    "bullseye": None,
    "bookworm": None,
    "trixie": None,
}
BUILD = {
    "bullseye": "compat",
    "bookworm": "default",
    "trixie": "default",
}
# The features each kernel lacks, as /health lists them: the loader's
# probes (user/kernel/kfeatures.c) found right both ways.
MISSING = {
    "bullseye": "bpf_loop,atomic_fetch,task_storage,attach_cookie,task_pt_regs,rdonly_cast,"
                "bpf_fd_unprivileged,ringbuf_dynptr",
    "bookworm": "rdonly_cast",
    "trixie": "",
}
STREAMS = 5
EVENTS = 20
# The pair's runs (tests/kernel/init): plaintext, over OpenSSL, and with
# each connection changing hands halfway (ssepair --handoff).
PAIRS = ("plain", "tls", "handoff")

# Not anchored: the firmware's escape sequences may start the line.
RESULT = re.compile(r"KTEST-RESULT (.*?) error=(.*)$", re.M)


def boot(kernels, release, log_level, timeout):
    """The VM's console output, and whether it ended within the timeout."""
    append = (f"console=ttyS0 panic=-1 quiet ktest_streams={STREAMS} "
              f"ktest_events={EVENTS} ktest_log_level={log_level}")
    cmd = ["nice", "-n", "10", "qemu-system-x86_64", "-machine", "accel=tcg",
           "-cpu", "max", "-smp", "1", "-m", "1G", "-nodefaults",
           "-display", "none", "-serial", "stdio", "-no-reboot",
           "-kernel", os.path.join(kernels, release, "vmlinuz"),
           "-initrd", os.path.join(kernels, "initramfs.cpio.gz"), "-append", append]
    try:
        out = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=timeout).stdout
        ended = True
    except subprocess.TimeoutExpired as e:
        out, ended = e.stdout or b"", False
    console = out.decode(errors="replace")
    with open(os.path.join(kernels, release, "console.log"), "w") as f:
        f.write(console)
    return console, ended


def verdict(release, fields, error):
    """(passed, what) for one kernel's KTEST-RESULT."""
    expected_error = EXPECTED[release]
    if expected_error is not None:
        if not error:
            return False, f"started, where it was expected to fail with '{expected_error}': update EXPECTED"
        if expected_error not in error:
            return False, f"failed otherwise than expected ('{expected_error}'): {error}"
        return True, f"expected failure: {error}"
    if error:
        return False, f"did not start: {error}"
    problems = []
    if fields.get("build") != BUILD[release]:
        problems.append(f"loaded the {fields.get('build')} BPF build, not the {BUILD[release]} one")
    if (fields.get("missing") or "") != MISSING[release]:
        problems.append(f"found the kernel lacking {fields.get('missing') or 'nothing'}, "
                        f"not {MISSING[release] or 'nothing'}")
    if fields.get("health") != "healthy":
        problems.append(f"health {fields.get('health')}, programs {fields.get('programs')}")
    truth = f"{STREAMS}/{STREAMS * EVENTS}"
    for name in PAIRS:
        pair, seen = fields.get(name), fields.get(f"{name}_seen")
        if pair != truth:
            problems.append(f"{name} pair counted {pair} streams/events, not {truth}")
        elif seen != pair:
            problems.append(f"{name}: exporter counted {seen} streams/events of {pair}")
    if fields.get("active") != "0/0":
        problems.append(f"SSE streams/HTTP connections still open by the gauges: {fields.get('active')}")
    if fields.get("maps") != "0/0/0":
        problems.append(f"entries left in conns/gated_ids/detached: {fields.get('maps')}")
    if fields.get("lost") != "0/0":
        problems.append(f"exchanges lost/connections untracked: {fields.get('lost')}")
    if problems:
        return False, "; ".join(problems)
    seen = ", ".join(f"{name} {fields[name + '_seen']}" for name in PAIRS)
    return True, (f"{fields['build']} build (lacks {fields.get('missing') or 'nothing'}), "
                  f"programs {fields['programs']}, {seen} streams/events, exact; gauges and maps back to 0")


def run(kernels, release, log_level, timeout):
    start = time.monotonic()
    console, ended = boot(kernels, release, log_level, timeout)
    secs = time.monotonic() - start
    found = RESULT.search(console)
    if not found:
        why = "no KTEST-RESULT line" + ("" if ended else f" within {timeout} s")
        passed, what = False, f"{why} (see {kernels}/{release}/console.log)"
        kernel = "?"
    else:
        fields = dict(kv.split("=", 1) for kv in found.group(1).split())
        kernel = fields.get("kernel", "?")
        passed, what = verdict(release, fields, found.group(2).strip())
    print(f"kernel-test: {release} {kernel}: {'ok' if passed else 'FAIL'}: {what} "
          f"[{secs:.0f} s]", flush=True)
    return passed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernels", default="build/kernels", help="the kernels and initramfs")
    ap.add_argument("--log-level", default="info", help="the exporter's, in the VM")
    ap.add_argument("--timeout", type=int, default=420, help="seconds per VM")
    ap.add_argument("releases", nargs="*", default=list(EXPECTED))
    args = ap.parse_args()
    unknown = [r for r in args.releases if r not in EXPECTED]
    if unknown:
        sys.exit(f"kernel-test: unknown releases {unknown}; known: {list(EXPECTED)}")
    results = [run(args.kernels, r, args.log_level, args.timeout) for r in args.releases]
    passed = sum(results)
    print(f"kernel-test: {passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
