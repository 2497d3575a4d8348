"""Merges the outputs of wrk processes run side by side (scripts/bench with BENCH_PIN_CLIENTS=1)
into one output in wrk's own format, as scripts/bench-lib.sh reads it: requests, Non-2xx
responses and acknowledged increments are summed, the rates added, and each latency percentile is
the highest of the processes' (a merged histogram is not available; the highest is an upper
bound). Usage: merge-wrk.py DURATION FILE..."""
import re
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def ms(text):
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(match[1]) * UNITS[match[2]]


duration, files = sys.argv[1], sys.argv[2:]
requests = rate = non2xx = acknowledged = 0
acknowledged_seen = False
percentiles = {}
for path in files:
    for line in open(path):
        fields = line.split()
        if "requests in" in line:
            requests += int(fields[0])
        elif line.startswith("Requests/sec:"):
            rate += float(fields[1])
        elif line.startswith("Non-2xx"):
            non2xx += int(fields[-1])
        elif line.startswith("acknowledged"):
            acknowledged += int(fields[1])
            acknowledged_seen = True
        elif len(fields) == 2 and fields[0] in ("50%", "75%", "90%", "99%"):
            percentiles[fields[0]] = max(percentiles.get(fields[0], 0.0), ms(fields[1]))

print(f"  {requests} requests in {duration}s, merged from {len(files)} wrk processes")
for name, value in percentiles.items():
    print(f"     {name}  {value:.2f}ms")
print(f"Requests/sec: {rate:.2f}")
if non2xx:
    print(f"  Non-2xx or 3xx responses: {non2xx}")
if acknowledged_seen:
    print(f"acknowledged {acknowledged}")
