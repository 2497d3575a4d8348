"""How soon a write on one instance is read on another (scripts/bench, two instances, one Redis).

Usage: bench-freshness.py A_PORT B_PORT COOKIE COUNT
Each round increments the counter on A (keep-alive HTTP on loopback), then reads B until it shows
the new value; the time from A's answer to the first read on B that shows it is the delay. Prints
p50, p99 and max in ms as key=value lines. Bounded: COUNT rounds, each given at most 2 s.
"""
import http.client
import json
import sys
import time

a_port, b_port, cookie, count = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
headers = {"Cookie": cookie, "Accept": "application/json"}
write_headers = dict(headers, **{"Sec-Fetch-Site": "same-origin",
                                 "Content-Type": "application/x-www-form-urlencoded"})


def ask(conn, method, path, hdrs):
    conn.request(method, path, body="" if method == "POST" else None, headers=hdrs)
    reply = conn.getresponse()
    body = reply.read()
    if reply.status != 200:
        sys.exit(f"{method} {path} answered {reply.status}: {body[:200]!r}")
    value = json.loads(body)
    return value["counter"] if isinstance(value, dict) else value


a = http.client.HTTPConnection("127.0.0.1", a_port, timeout=5)
b = http.client.HTTPConnection("127.0.0.1", b_port, timeout=5)
delays = []
for _ in range(count):
    ask(b, "GET", "/api/session", headers)  # B holds the current version
    written = ask(a, "POST", "/api/increment", write_headers)
    answered = time.monotonic()
    while ask(b, "GET", "/api/session", headers) != written:
        if time.monotonic() - answered > 2:
            sys.exit(f"B never read {written}")
    delays.append((time.monotonic() - answered) * 1000)
delays.sort()
print(f"fresh_p50={delays[len(delays) // 2]:.3f}")
print(f"fresh_p99={delays[len(delays) * 99 // 100]:.3f}")
print(f"fresh_max={delays[-1]:.3f}")
