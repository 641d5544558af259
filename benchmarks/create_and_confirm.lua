-- wrk script of `make bench` (benchmarks/bench_payments.py): create-and-confirm card payments.
--
--   wrk -t2 -c32 -d20s -s benchmarks/create_and_confirm.lua http://127.0.0.1:PORT -- API_KEY [KEYS_FILE]
--
-- Every request is POST /api/v1/payments with confirm: true and tok_visa. Without KEYS_FILE each request
-- carries a fresh Idempotency-Key (a UUID whose last group counts this thread's requests, so no two keys of
-- a run are equal); with KEYS_FILE (one key a line) the threads replay those keys, each from its own offset.
-- A payment counts as succeeded when the answer is 201 with "status": "succeeded". At the end, one line
-- "WRK_RESULT {json}" gives the requests, the succeeded ones, the status codes, wrk's socket errors and
-- latency percentiles (microseconds), for bench_payments.py to read.

local body = '{"amount": 1999, "currency": "USD", "confirm": true, '
  .. '"payment_method": {"type": "card", "token": "tok_visa"}}'
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  headers = {
    ["Authorization"] = "Bearer " .. args[1],
    ["Content-Type"] = "application/json",
  }
  replay_keys = nil
  if args[2] then
    replay_keys = {}
    for line in io.lines(args[2]) do
      if line ~= "" then
        table.insert(replay_keys, line)
      end
    end
  end
  -- Per thread: a random prefix (fresh per run) and the thread's number keep keys apart across threads.
  math.randomseed(os.time() * 1000 + thread_number * 7919 + math.floor(os.clock() * 1000000))
  key_prefix = string.format("%08x-%04x-4%03x-%04x-", math.random(0, 0xffffffff), math.random(0, 0xffff),
    thread_number % 0x1000, 0x8000 + math.random(0, 0x3fff))
  sent = 0
  succeeded = 0
  statuses = {}
end

function request()
  local key
  if replay_keys then
    key = replay_keys[((thread_number * 7919 + sent) % #replay_keys) + 1]
  else
    key = key_prefix .. string.format("%012x", sent)
  end
  sent = sent + 1
  headers["Idempotency-Key"] = key
  return wrk.format("POST", "/api/v1/payments", headers, body)
end

-- What counts as "succeeded": a 201 with the payment succeeded (create_and_confirm_async.lua changes both).
expected_code = 201
expected_pattern = '"status":%s*"succeeded"'

function response(status, response_headers, response_body)
  local code = tostring(status)
  statuses[code] = (statuses[code] or 0) + 1
  if status == expected_code and response_body:find(expected_pattern) then
    succeeded = succeeded + 1
  end
end

function done(summary, latency, requests)
  local total_succeeded = 0
  local total_statuses = {}
  for _, thread in ipairs(threads) do
    total_succeeded = total_succeeded + thread:get("succeeded")
    for code, count in pairs(thread:get("statuses")) do
      total_statuses[code] = (total_statuses[code] or 0) + count
    end
  end
  local codes = {}
  for code, count in pairs(total_statuses) do
    table.insert(codes, string.format('"%s": %d', code, count))
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "succeeded": %d, "duration_us": %d, "statuses": {%s}, '
      .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, total_succeeded, summary.duration, table.concat(codes, ", "),
    errors.connect, errors.read, errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
