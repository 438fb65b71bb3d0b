-- wrk script: replays a request plan (lib/spike_plan.py), one request a
-- line as `PATH<TAB>USER_AGENT`, each thread walking its own part of the
-- plan in order, and sorts the answers into what an email client would see.
--
-- Arguments (after wrk's `--`): PLAN_FILE THREADS [OFFSET]
--   THREADS   the -t given to wrk, to split the plan between threads.
--   OFFSET    how many lines each thread skips first, so that the next run
--             goes on where the last one stopped.
-- The environment variable SPIKE_DELAY_MS, when set and not 0, pauses every
-- connection that long before each request, to hold a rate below capacity:
-- about CONNECTIONS * 1000 / (SPIKE_DELAY_MS + latency) requests a second.
-- (wrk decides once, when it loads the script, whether a delay() exists.)
--
-- done() prints one OTRESULT line of key=value pairs for the shell scripts:
-- requests, rate, latency percentiles in microseconds, images (200 with an
-- image type), redirects (302), bad (anything else: the email would show a
-- broken image or link), the lines each thread walked (for OFFSET), whether
-- a thread ran off the end of its part (wrapped), and socket errors.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local file = args[1]
  local nthreads = tonumber(args[2] or "1")
  local offset = tonumber(args[3] or "0")
  local lines = {}
  for line in io.lines(file) do
    if line ~= "" then lines[#lines + 1] = line end
  end
  if #lines == 0 then error("no requests in " .. file) end
  -- This thread's part of the plan, as ready requests.
  local first = math.floor(id * #lines / nthreads) + 1
  local last = math.floor((id + 1) * #lines / nthreads)
  requests = {}
  for k = first, last do
    local path, agent = lines[k]:match("^([^\t]+)\t(.*)$")
    if not path then error("bad plan line " .. k .. ": " .. lines[k]) end
    requests[#requests + 1] = wrk.format("GET", path, { ["User-Agent"] = agent })
  end
  index = offset % #requests
  walked = 0
  wrapped = 0
  images, redirects, bad = 0, 0, 0
end

function request()
  index = index + 1
  if index > #requests then
    index = 1
    wrapped = 1
  end
  walked = walked + 1
  return requests[index]
end

local pause = tonumber(os.getenv("SPIKE_DELAY_MS") or "0") or 0
if pause > 0 then
  function delay()
    return pause
  end
end

function response(status, headers, body)
  if status == 200 then
    local kind = headers["Content-Type"] or headers["content-type"] or ""
    if kind:sub(1, 6) == "image/" then
      images = images + 1
    else
      bad = bad + 1
    end
  elseif status == 302 then
    redirects = redirects + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = { images = 0, redirects = 0, bad = 0, walked = 0, wrapped = 0 }
  for _, thread in ipairs(threads) do
    for key, _ in pairs(total) do
      total[key] = total[key] + thread:get(key)
    end
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "OTRESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d images=%d redirects=%d bad=%d walked_per_thread=%d wrapped=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, total.images, total.redirects,
    total.bad, math.floor(total.walked / #threads), total.wrapped,
    e.connect, e.read, e.write, e.timeout))
end
