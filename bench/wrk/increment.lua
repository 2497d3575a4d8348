-- wrk script for scripts/bench: POSTs an empty form (an increment) and counts the answers, so the
-- benchmark can compare acknowledged increments with how far the stored counter really moved.
wrk.method = "POST"
wrk.body = ""
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
-- As a browser sends it: state-changing requests without it are refused as cross-site.
wrk.headers["Sec-Fetch-Site"] = "same-origin"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  acknowledged = 0
  refused = 0
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    acknowledged = acknowledged + 1
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local ok, failed = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("acknowledged")
    failed = failed + thread:get("refused")
  end
  io.write(string.format("acknowledged %d\nrefused %d\n", ok, failed))
end
