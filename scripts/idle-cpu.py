#!/usr/bin/env python3
"""CPU time an idle workbench uses: `ie-bench` in a pseudo-terminal on a database whose
default model is already made, no input, no run; user+system time from /proc/PID/stat over
a window, after a settling wait.

usage: scripts/idle-cpu.py BINARY [SECONDS]   (default 60)
"""
import os, pty, select, sys, tempfile, time

binary = sys.argv[1]
window = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
tick = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    # Fields 14 and 15 (utime, stime) follow the parenthesised command name.
    stat = open(f"/proc/{pid}/stat").read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / tick


def run(db, seconds, until=None):
    """Runs the TUI on db for `seconds` (or until `until()` holds), draining its output;
    returns its CPU seconds over the last `window` seconds when asked."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["XDG_CONFIG_HOME"] = os.path.join(db, "config")
        os.execv(binary, [binary, "--db", os.path.join(db, "db")])
    start = time.time()
    marks = {}

    def drain(t):
        end = time.time() + t
        while time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    os.read(fd, 65536)
                except OSError:
                    return

    if until:
        while not until() and time.time() - start < seconds:
            drain(1)
        drain(5)
    else:
        drain(5)  # settle after the first frames
        marks["before"] = cpu_seconds(pid)
        drain(window)
        marks["after"] = cpu_seconds(pid)
    os.write(fd, b"q")
    drain(2)
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    return marks


with tempfile.TemporaryDirectory() as tmp:
    made = os.path.join(tmp, "db", "models", "tiny-default", "model.safetensors")
    run(tmp, 300, until=lambda: os.path.exists(made))
    assert os.path.exists(made), "the default model was not made"
    m = run(tmp, window)
    used = m["after"] - m["before"]
    print(f"{binary}: {used:.2f} s CPU over {window:.0f} s idle ({100 * used / window:.2f}% of a core)")
