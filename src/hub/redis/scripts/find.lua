local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local from = string.format('%d', math.max(0, now - tonumber(ARGV[2])))
local recent = redis.call('XRANGE', KEYS[1], from, '+')
for i = #recent, 1, -1 do
  local fields = recent[i][2]
  for j = 1, #fields, 2 do
    if fields[j] == 'k' and fields[j + 1] == ARGV[1] then return recent[i][1] end
  end
end
return false
