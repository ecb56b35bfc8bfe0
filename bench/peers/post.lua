-- bench/peers/post.lua: wrk script for bench/ingest.sh and bench/automation.sh.
--
-- POSTs one body, the same for every request:
--   CX_BENCH_BODY     file holding the exact request body (sent byte for byte)
--   CX_BENCH_SIG      value of the X-Hub-Signature-256 header ("sha256=<hex>"),
--                     when set
--   CX_BENCH_API_KEY  value of the X-Api-Key header, when set
--   CX_BENCH_IDEM     when set, every request gets its own Idempotency-Key
--                     "<CX_BENCH_IDEM>-<thread>-<n>" (so none is a replay)
--
-- Counts responses by status in each thread and, when the run is over,
-- prints one line that bench/ingest.sh parses (latencies in microseconds):
--   cx-bench: requests=N ok2xx=N non2xx=N s401=N ... p50=US p99=US errors=...

local f = assert(io.open(assert(os.getenv("CX_BENCH_BODY"), "CX_BENCH_BODY not set"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
if os.getenv("CX_BENCH_SIG") then
	wrk.headers["X-Hub-Signature-256"] = os.getenv("CX_BENCH_SIG")
end
if os.getenv("CX_BENCH_API_KEY") then
	wrk.headers["X-Api-Key"] = os.getenv("CX_BENCH_API_KEY")
end
local idem = os.getenv("CX_BENCH_IDEM")

local threads = {}

function setup(thread)
	table.insert(threads, thread)
	thread:set("tid", #threads)
end

function init(args)
	ok2xx, non2xx, s401, s5xx = 0, 0, 0, 0
	sent = 0
end

if idem then
	function request()
		local h = {}
		for k, v in pairs(wrk.headers) do h[k] = v end
		sent = sent + 1
		h["Idempotency-Key"] = string.format("%s-%d-%d", idem, tid, sent)
		return wrk.format(nil, nil, h, nil)
	end
end

function response(status, headers, body)
	if status >= 200 and status < 300 then
		ok2xx = ok2xx + 1
	else
		non2xx = non2xx + 1
		if status == 401 then s401 = s401 + 1 end
		if status >= 500 then s5xx = s5xx + 1 end
	end
end

function done(summary, latency, requests)
	local ok, bad, u, s = 0, 0, 0, 0
	for _, t in ipairs(threads) do
		ok = ok + t:get("ok2xx")
		bad = bad + t:get("non2xx")
		u = u + t:get("s401")
		s = s + t:get("s5xx")
	end
	local e = summary.errors
	io.write(string.format(
		"cx-bench: requests=%d ok2xx=%d non2xx=%d s401=%d s5xx=%d p50=%d p99=%d max=%d " ..
		"connect=%d read=%d write=%d status=%d timeout=%d\n",
		summary.requests, ok, bad, u, s,
		latency:percentile(50), latency:percentile(99), latency.max,
		e.connect, e.read, e.write, e.status, e.timeout))
end
