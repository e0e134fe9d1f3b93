-- wrk script: GET /Users/{id} of random seeded users (examples/seed.rs gives them
-- predictable ids).
local count = tonumber(os.getenv("SEEDED") or "100000")
math.randomseed(os.time())
request = function()
  local i = math.random(0, count - 1)
  local path = string.format("/scim/v2/Users/5eed0000-0000-4000-8000-%012d", i)
  return wrk.format("GET", path, { ["Authorization"] = "Bearer bench-token" })
end
