-- wrk script: POST a new contact on every request, the given bearer tokens in turn.
--   wrk -s bench/intake.lua URL -- PREFIX TOKEN [TOKEN ...]
-- Every external_id is new (PREFIX-thread-n), so each request makes a lead and a contact.
-- done() prints one JSON line that bench_intake.py reads.

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local prefix, tokens, n = "", {}, 0
-- BENCH_SKILLS=ru: every contact asks for that skill (bench_intake --skills on), floor and app alike.
local skills = os.getenv("BENCH_SKILLS") or ""
local extra = skills ~= "" and string.format(', "skills": ["%s"]', skills) or ""

function init(args)
  prefix = args[1] .. "-" .. thread_id .. "-"
  for i = 2, #args do
    tokens[#tokens + 1] = "Bearer " .. args[i]
  end
end

function request()
  n = n + 1
  local body = string.format('{"external_id": "%s%d", "name": "Bench %d", "message": "benchmark"%s}', prefix, n, n, extra)
  local headers = { ["Content-Type"] = "application/json" }
  if #tokens > 0 then
    headers["Authorization"] = tokens[(n + thread_id) % #tokens + 1]
  end
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "http_errors": %d, "socket_errors": %d, "p50_ms": %.2f, "p99_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
