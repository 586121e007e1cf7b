-- lua_tables.lua [ROUNDS] - table churn for lua5.4: each round builds 200000 small tables
-- (records with string fields and array parts), indexes them by string key in a hash table,
-- sorts a copy, concatenates strings, drops half and grows the rest. Lua's allocator is
-- realloc/free, so every table, array part and string is a malloc-family call. Prints
-- checksums that do not depend on the allocator.
local rounds = tonumber(arg[1]) or 8
math.randomseed(2024)
local total = 0
for round = 1, rounds do
  local items, index = {}, {}
  for i = 1, 200000 do
    local name = string.format("k%d_%d", i, math.random(1000))
    local rec = { id = i, name = name, score = math.random(100000), tags = {} }
    for t = 1, math.random(0, 5) do rec.tags[t] = "t" .. math.random(64) end
    items[i] = rec
    index[name] = rec
  end
  local sorted = {}
  for i = 1, #items do sorted[i] = items[i] end
  table.sort(sorted, function(a, b)
    if a.score ~= b.score then return a.score < b.score end
    return a.id < b.id
  end)
  local parts, check = {}, 0
  for i = 1, #sorted, 7 do
    local r = sorted[i]
    parts[#parts + 1] = r.name .. ":" .. #r.tags
  end
  local joined = table.concat(parts, ",")
  check = check + #joined
  local kept = {}
  for i = 1, #items do
    local r = items[i]
    if r.score % 2 == 0 then
      index[r.name] = nil
    else
      kept[#kept + 1] = r
    end
  end
  items = nil
  for _, r in ipairs(kept) do
    r.tags[#r.tags + 1] = r.name:upper()
    check = check + #r.tags + (index[r.name] and 1 or 0)
  end
  total = total + check
  print(string.format("lua_tables: round %d checksum %d", round, check))
end
print(string.format("lua_tables: total %d", total))
