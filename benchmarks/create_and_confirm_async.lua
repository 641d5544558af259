-- wrk script of `make bench --mode async` (benchmarks/bench_payments.py): create-and-confirm card payments
-- asynchronously.
--
--   wrk -t2 -c32 -d20s -s benchmarks/create_and_confirm_async.lua http://127.0.0.1:PORT -- API_KEY
--
-- The requests of create_and_confirm.lua (its keys, its body, its summary line), each with
-- "Prefer: respond-async". A payment counts as accepted (the summary's "succeeded") when the answer is 202 with
-- "status": "processing"; the bench learns from the database when each one settles.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "create_and_confirm.lua")

local init_sync = init

function init(args)
  init_sync(args)
  headers["Prefer"] = "respond-async"
  expected_code = 202
  expected_pattern = '"status":%s*"processing"'
end
