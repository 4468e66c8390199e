local old = redis.call('GET', KEYS[1])
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
if old then
  local oms, oseq = parts(old)
  local nms, nseq = parts(ARGV[1])
  if oms and nms and (oms > nms or (oms == nms and oseq >= nseq)) then return 0 end
end
if ARGV[2] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
