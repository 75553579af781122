"""What a durable write per request costs a machine under CPU load: a model of the
intake benchmark without HTTP, Flask or the store.

Not a test. Run ``.venv/bin/python bench/fsync_model.py [--processes 2] [--burn 20000]
[--seconds 6] [--folder DIR]``.

Each of ``--processes`` processes loops: burn CPU (``--burn`` iterations of a Python
loop, about a report's work), then write one 1.3 KB record and ``fdatasync`` it. Three
ways, alternating, twice each:

- ``none``: no write at all (the peer: what the CPUs alone allow)
- ``append``: append to the file, as the case log does (the size changes, so ext4
  journals it)
- ``prewritten``: overwrite a file filled with newlines beforehand (no size change,
  no journal: only the data is written)

It prints operations per second, the machine's busy and idle µs per operation
(from /proc/stat) and each way's rate as a share of ``none``. On the 2-core
development VM (November 2026), with 2 processes: ``append`` 66–74 % of ``none``,
``prewritten`` 71–75 %; the loss is mostly idle time (both processes waiting for
their fsyncs at once), not CPU. See docs/performance.md.
"""

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time

RECORD = b"\x1e" + b"x" * 1300 + b"\n"
MODES = ("none", "append", "prewritten")


def burn(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def worker(mode, path, seconds, n_burn, results):
    fd = None
    if mode == "append":
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    elif mode == "prewritten":
        fd = os.open(path, os.O_RDWR)
    offset, count = 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        burn(n_burn)
        if fd is not None:
            if mode == "append":
                os.write(fd, RECORD)
            else:
                os.pwrite(fd, RECORD, offset)
                offset += len(RECORD)
            os.fdatasync(fd)
        count += 1
    results.put(count)


def machine():
    """(busy, idle) clock ticks of the whole machine so far."""
    user, nice, system, idle, iowait, irq, softirq, steal = map(
        int, open("/proc/stat", encoding="ascii").readline().split()[1:9])
    return user + nice + system + irq + softirq + steal, idle + iowait


def run(mode, folder, processes, seconds, n_burn):
    paths = [os.path.join(folder, f"model-{i}.seq") for i in range(processes)]
    if mode == "prewritten":  # room for the fastest rate seen here, 20 times over
        for path in paths:
            with open(path, "wb") as f:
                f.write(b"\n" * (len(RECORD) * 3000 * seconds))
                f.flush()
                os.fsync(f.fileno())
    results = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(mode, p, seconds, n_burn, results))
             for p in paths]
    (b0, i0) = machine()
    for p in procs:
        p.start()
    total = sum(results.get() for _ in procs)
    for p in procs:
        p.join()
    (b1, i1) = machine()
    for path in paths:
        if os.path.exists(path):
            os.unlink(path)
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    return total / seconds, (b1 - b0) * tick_us / total, (i1 - i0) * tick_us / total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--burn", type=int, default=20_000, help="loop iterations per operation")
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--folder", default=None, help="a folder on the disk to measure (default: "
                        "the system's temporary folder); put it where the data folder will be")
    args = parser.parse_args()
    rates = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        print(f"{args.processes} processes, {args.burn} iterations of CPU work per operation, "
              f"{args.seconds} s per run, files in {os.path.abspath(folder)}")
        for _ in range(2):
            for mode in MODES:
                rate, busy, idle = run(mode, folder, args.processes, args.seconds, args.burn)
                rates[mode].append(rate)
                print(f"  {mode:<11} {rate:7.0f} ops/s   machine per op: busy {busy:5.0f} µs, "
                      f"idle {idle:4.0f} µs", flush=True)
    peer = statistics.mean(rates["none"])
    for mode in MODES[1:]:
        print(f"{mode:<11} {statistics.mean(rates[mode]) / peer:6.1%} of the rate without "
              f"writes (the peer, 'none': {peer:.0f} ops/s)")


if __name__ == "__main__":
    main()
