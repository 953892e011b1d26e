-- wrk script for bench/venue_save.py: POST one save per request, each with its own
-- ticket and Idempotency-Key, never reused.
--
--   wrk -t2 -c50 -d10s -s bench/wrk_save.lua URL -- PATH TICKETS_FILE THREADS TOKEN RUN
--
-- TOKEN is the venue account's bearer token ("-" for none, the baseline); RUN
-- makes this run's Idempotency-Keys differ from every other run's.
--
-- TICKETS_FILE holds one ticket per line (written by venue_save.py from the
-- tickets it seeded); thread k of THREADS takes lines k, k+THREADS, ... so no
-- two threads share a ticket. A thread that runs out of tickets stops (wrk then
-- reports fewer requests; venue_save.py sizes the file so this does not happen).
-- PATH "/save" is the one-INSERT baseline, which gets the same body (its tickets
-- are never read, so its list wraps around).

local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  path = args[1]
  local count = tonumber(args[3])
  token = args[4]
  run = args[5]
  tickets = {}
  local n = 0
  for line in io.lines(args[2]) do
    if n % count == id then
      table.insert(tickets, line)
    end
    n = n + 1
  end
  next_ticket = 1
end

function request()
  local ticket = tickets[next_ticket]
  if ticket == nil and path == "/save" then
    -- The baseline never reads the ticket: its list may wrap around.
    next_ticket = 1
    ticket = tickets[next_ticket]
  elseif ticket == nil then
    wrk.thread:stop()
    ticket = "exhausted"
  end
  next_ticket = next_ticket + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "wrk-" .. run .. "-" .. id .. "-" .. next_ticket,
  }
  if token ~= nil and token ~= "-" then
    headers["Authorization"] = "Bearer " .. token
  end
  local body = '{"ticket":"' .. ticket .. '","dose_number":"1","vaccinated_on":"2022-11-01",'
    .. '"product":"pfizer-comirnaty","lot_number":"GE0123","volume_ml":"0.3",'
    .. '"doctor_name":"\\u533b\\u5e2b","birth_date":"19600101"}'
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("WRK requests=%d duration_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, errors.status, errors.connect, errors.read,
    errors.write, errors.timeout, latency:percentile(50), latency:percentile(99)))
end
