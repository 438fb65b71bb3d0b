-- wrk script: the attack of render-flood.sh. Every request asks a public
-- template for an image no one asked for before, through an unsigned
-- parameter the template draws: `PATH_PREFIX` + thread + counter.
--
-- Arguments (after wrk's `--`): PATH_PREFIX  e.g. /i/flood.png?name=
--
-- done() prints one OTRESULT line in the format of cycle.lua.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1]
  counter = 0
  responses = 0
  non200 = 0
end

function request()
  counter = counter + 1
  return wrk.format("GET", string.format("%st%dn%d", prefix, id, counter))
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then non200 = non200 + 1 end
end

function done(summary, latency, requests)
  local non200_total, responses_total = 0, 0
  for _, thread in ipairs(threads) do
    non200_total = non200_total + thread:get("non200")
    responses_total = responses_total + thread:get("responses")
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "OTRESULT requests=%d responses=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d mean_us=%.1f non200=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d status_errors=%d\n",
    summary.requests, responses_total, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean, non200_total,
    e.connect, e.read, e.write, e.timeout, e.status))
end
