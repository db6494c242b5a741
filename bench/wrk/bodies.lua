-- wrk script for the whatsapp-exporter benchmarks.
--
--   wrk -t1 -c32 -d10s -s bench/wrk/bodies.lua URL -- BODIES_FILE
--
-- With a file (lines of "<X-Hub-Signature-256>\t<body>"), every request POSTs the next pre-signed
-- body, cycling through the file: the bodies are distinct, so de-duplication in the exporter does
-- not make its work cheaper than real traffic. Without a file, it GETs the URL (scrapes).
-- done() prints one JSON line the orchestrator reads (latencies in microseconds).

local requests = {}
local count = 0
local next_index = 0

function init(args)
  local path = args[1]
  if path == nil then return end
  for line in io.lines(path) do
    local tab = line:find("\t", 1, true)
    if tab ~= nil then
      count = count + 1
      requests[count] = wrk.format("POST", nil, {
        ["Content-Type"] = "application/json",
        ["X-Hub-Signature-256"] = line:sub(1, tab - 1),
      }, line:sub(tab + 1))
    end
  end
end

function request()
  if count == 0 then return wrk.format() end
  next_index = next_index + 1
  if next_index > count then next_index = 1 end
  return requests[next_index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
    '"non2xx":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
