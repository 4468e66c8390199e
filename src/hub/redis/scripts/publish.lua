local previous = '0-0'
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then previous = info[i + 1] end
  end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*',
  'e', ARGV[2], 'p', previous, 'k', ARGV[3])
if ARGV[5] ~= '0' then
  local ms = tonumber(string.match(id, '^(%d+)'))
  local oldest = math.max(0, ms - tonumber(ARGV[5]))
  redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d', oldest))
end
redis.call('SPUBLISH', ARGV[1], id .. ' ' .. previous .. ' ' .. ARGV[2])
return id
