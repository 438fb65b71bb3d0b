-- wrk script: a paced probe. Each connection sends one request every
-- INTERVAL_MS (wrk's delay()), each for the next recipient of a token
-- list, so the probe is a steady trickle of legitimate opens whose latency
-- wrk records, rather than a load of its own.
--
-- Arguments (after wrk's `--`): TOKENS_FILE PATH_PREFIX INTERVAL_MS
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
  local file, prefix = args[1], args[2]
  interval = tonumber(args[3] or "20")
  paths = {}
  for line in io.lines(file) do
    if line ~= "" then paths[#paths + 1] = prefix .. line end
  end
  if #paths == 0 then error("no tokens in " .. file) end
  index = (id * 7919) % #paths
  responses = 0
  non200 = 0
end

function delay()
  return interval
end

function request()
  index = index % #paths + 1
  return wrk.format("GET", paths[index])
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
