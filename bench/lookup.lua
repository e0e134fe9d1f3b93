-- wrk script: userName lookups of random seeded users, as IdPs do before every create.
local count = tonumber(os.getenv("SEEDED") or "100000")
math.randomseed(os.time())
request = function()
  local i = math.random(0, count - 1)
  local path = "/scim/v2/Users?filter=userName%20eq%20%22user" .. i .. "%40example.com%22"
  return wrk.format("GET", path, { ["Authorization"] = "Bearer bench-token" })
end
