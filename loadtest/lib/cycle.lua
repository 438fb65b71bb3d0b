-- wrk script: every request names the next recipient of a token list, so
-- consecutive requests are different recipients; each thread starts at its
-- own offset in the list.
--
-- Arguments (after wrk's `--`): TOKENS_FILE PATH_PREFIX [MAX_REQUESTS THREADS OFFSET]
--   PATH_PREFIX  e.g. /i/loyalty.png?t=  (the token is appended)
--   MAX_REQUESTS total cap over all threads, 0 for none; a thread that has
--                had its share of responses stops itself.
--   THREADS      the -t given to wrk, to split the cap and the offsets.
--   OFFSET       where in the list to start (a later run can go on where
--                an earlier one stopped).
--
-- The environment variable OT_USER_AGENT, when set and not empty, is sent
-- as every request's User-Agent (without it wrk sends none, which the
-- server's rules take for a scanner's request).
--
-- done() prints one line starting with OTRESULT, key=value pairs, that the
-- shell scripts parse: requests, duration, rate, latency percentiles in
-- microseconds, non-200 responses and socket errors.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local file, prefix = args[1], args[2]
  local cap = tonumber(args[3] or "0")
  local nthreads = tonumber(args[4] or "1")
  local offset = tonumber(args[5] or "0")
  tokens = {}
  for line in io.lines(file) do
    if line ~= "" then tokens[#tokens + 1] = line end
  end
  if #tokens == 0 then error("no tokens in " .. file) end
  paths = {}
  for k = 1, #tokens do paths[k] = prefix .. tokens[k] end
  index = (offset + math.floor(id * #tokens / nthreads)) % #tokens
  share = 0
  if cap > 0 then
    share = math.floor(cap / nthreads)
    if id < cap % nthreads then share = share + 1 end
  end
  responses = 0
  non200 = 0
  local user_agent = os.getenv("OT_USER_AGENT")
  if user_agent ~= nil and user_agent ~= "" then
    request_headers = { ["User-Agent"] = user_agent }
  end
end

function request()
  index = index % #paths + 1
  return wrk.format("GET", paths[index], request_headers)
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then non200 = non200 + 1 end
  if share > 0 and responses >= share then
    wrk.thread:stop()
  end
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
