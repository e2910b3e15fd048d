"""Load generators: wrk (driven by a generated Lua script) or a bundled Python client, same figures.

Both post `{"external_id": "<prefix>-<thread>-<counter>", "message": "benchmark"}` with a bearer token
for a fixed time over a fixed number of connections, every external id unique, and report requests,
latency percentiles, non-2xx answers, 5xx answers and socket errors. Nothing here knows Django.
"""

import http.client
import json
import math
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

WRK_MARKER = "BENCH_RESULT "


@dataclass(frozen=True)
class LoadResult:
    client: str
    duration_s: float
    requests: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non_2xx: int
    status_5xx: int
    socket_errors: int
    statuses: dict[str, int] = field(default_factory=dict)  # status class ("2xx", …) -> answers

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors

    def as_dict(self) -> dict:
        return {**asdict(self), "rps": round(self.rps, 1), "errors": self.errors}


def body(prefix: str, thread: int, counter: int) -> bytes:
    return json.dumps({"external_id": f"{prefix}-{thread}-{counter}", "message": "benchmark"}).encode()


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


# ---------------------------------------------------------------------------------------------- wrk

# wrk runs one Lua state per thread: setup() (main state) numbers the threads, request() builds each
# body with that thread's counter, response() counts status classes, done() (main state again) sums
# the threads' counters and prints one JSON line for us to parse.
WRK_SCRIPT = r"""
local prefix, token, path = %(prefix)s, %(token)s, %(path)s
local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  non2xx = 0
  s5xx = 0
  classes = {}
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local body = string.format('{"external_id": "%%s-%%d-%%d", "message": "benchmark"}', prefix, id, counter)
  return wrk.format(nil, path, nil, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  if status >= 500 then s5xx = s5xx + 1 end
  local class = math.floor(status / 100) .. "xx"
  classes[class] = (classes[class] or 0) + 1
end

function done(summary, latency, requests)
  local n2, n5 = 0, 0
  local all = {}
  for _, t in ipairs(threads) do
    n2 = n2 + t:get("non2xx")
    n5 = n5 + t:get("s5xx")
    for class, n in pairs(t:get("classes")) do all[class] = (all[class] or 0) + n end
  end
  local parts = {}
  for class, n in pairs(all) do table.insert(parts, string.format('"%%s": %%d', class, n)) end
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"duration_us": %%d, "requests": %%d, "p50_us": %%d, "p95_us": %%d, "p99_us": %%d, ' ..
    '"non_2xx": %%d, "status_5xx": %%d, "socket_errors": %%d, "statuses": {%%s}}\n',
    summary.duration, summary.requests, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), n2, n5, e.connect + e.read + e.write + e.timeout, table.concat(parts, ", ")))
end
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def lua_string(value: str) -> str:
    # json.dumps gives a double-quoted string with \" and \\ escapes, which Lua reads the same way.
    return json.dumps(value)


def wrk_script(*, prefix: str, token: str, path: str) -> str:
    return WRK_SCRIPT % {
        "prefix": lua_string(prefix),
        "token": lua_string(token),
        "path": lua_string(path),
        "marker": WRK_MARKER,
    }


def parse_wrk_output(stdout: str) -> LoadResult:
    """The JSON line done() printed; wrk's own human summary around it is ignored."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith(WRK_MARKER)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result line; its output was:\n{stdout}")
    data = json.loads(line[len(WRK_MARKER) :])
    return LoadResult(
        client="wrk",
        duration_s=data["duration_us"] / 1e6,
        requests=data["requests"],
        p50_ms=data["p50_us"] / 1000,
        p95_ms=data["p95_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        non_2xx=data["non_2xx"],
        status_5xx=data["status_5xx"],
        socket_errors=data["socket_errors"],
        statuses=dict(sorted(data["statuses"].items())),
    )


def run_wrk(
    *, url: str, token: str, prefix: str, connections: int, duration: float, threads: int, timeout_s: int = 30
) -> LoadResult:
    """Drive `url` with wrk; wrk keeps connections alive whenever the server lets it.

    wrk's own timeout (default 2 s) is raised to gunicorn's 30 s: a slow answer should be measured as slow,
    not dropped as a socket error.
    """
    path = urlsplit(url).path
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-") as script:
        script.write(wrk_script(prefix=prefix, token=token, path=path))
        script.flush()
        completed = subprocess.run(
            [
                "wrk",
                f"--threads={max(1, min(threads, connections))}",
                f"--connections={connections}",
                f"--duration={max(1, round(duration))}s",
                f"--timeout={timeout_s}s",
                f"--script={script.name}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=duration + timeout_s + 30,
        )
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr or completed.stdout}")
    return parse_wrk_output(completed.stdout)


# ------------------------------------------------------------------------------------- Python client


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list; 0.0 for an empty one."""
    if not sorted_values:
        return 0.0
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def run_python(
    *, url: str, token: str, prefix: str, connections: int, duration: float, fresh_connections: bool = False
) -> LoadResult:
    """Drive `url` from `connections` threads, each with its own connection, for `duration` seconds.

    Keep-alive by default (http.client reconnects by itself when the server closes after an answer);
    fresh_connections opens a new connection for every request. The client shares the machine and the
    GIL: on a small box it is slower than wrk and its numbers are lower; compare runs of one client only.
    """
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
    request_headers = headers(token)
    if fresh_connections:
        request_headers["Connection"] = "close"
    start = threading.Barrier(connections + 1)
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    socket_errors = 0
    deadline = 0.0

    def worker(thread: int) -> None:
        nonlocal socket_errors
        mine: list[float] = []
        seen: Counter[int] = Counter()
        errors = 0
        conn = http.client.HTTPConnection(host, port, timeout=30)
        counter = 0
        start.wait()
        while time.monotonic() < deadline:
            counter += 1
            began = time.perf_counter()
            try:
                conn.request("POST", path, body(prefix, thread, counter), request_headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()  # the next request opens a new connection
                continue
            mine.append(time.perf_counter() - began)
            seen[response.status] += 1
            if fresh_connections:
                conn.close()
        conn.close()
        with lock:
            latencies.extend(mine)
            statuses.update(seen)
            socket_errors += errors

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(1, connections + 1)]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    deadline = began + duration
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    classes: Counter[str] = Counter()
    for status, n in statuses.items():
        classes[f"{status // 100}xx"] += n
    return LoadResult(
        client="python" + (" (fresh connections)" if fresh_connections else ""),
        duration_s=elapsed,
        requests=len(latencies),
        p50_ms=percentile(latencies, 50) * 1000,
        p95_ms=percentile(latencies, 95) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        non_2xx=sum(n for status, n in statuses.items() if not 200 <= status < 300),
        status_5xx=sum(n for status, n in statuses.items() if status >= 500),
        socket_errors=socket_errors,
        statuses=dict(sorted(classes.items())),
    )

