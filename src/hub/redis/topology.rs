//! Which Redis node serves which topic: hash slots, and the map of a cluster's slots.

use std::sync::Arc;

use redis::{ConnectionAddr, ConnectionInfo, ErrorKind, RedisError, RedisResult, Value};

use super::commands::Commands;

/// The number of hash slots of a Redis Cluster.
const SLOTS: u16 = 16384;

/// The hash slot of `key`, as Redis Cluster computes it: CRC16 (XMODEM) of the key's
/// hash tag (the part between the first `{` and the next `}`, if not empty), or of the
/// whole key.
pub(super) fn slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(key)) % SLOTS
}

/// A node's address, `host:port`.
pub(super) type Addr = Arc<str>;

/// Which node serves each slot (none by default).
#[derive(Clone, Debug, Default)]
pub(super) struct Topology {
    /// Slot ranges (first, last) and their master, sorted.
    ranges: Vec<(u16, u16, Addr)>,
}

impl Topology {
    /// One server that serves every slot.
    pub(super) fn single(addr: Addr) -> Self {
        Self {
            ranges: vec![(0, SLOTS - 1, addr)],
        }
    }

    /// The map a `CLUSTER SLOTS` reply gives; `None` if it is not one. A node that
    /// does not know its own address is listed with an empty host, meaning the one the
    /// reply came from: `asked`.
    pub(super) fn from_cluster_slots(reply: &Value, asked: &str) -> Option<Self> {
        let Value::Array(entries) = reply else {
            return None;
        };
        let mut ranges = Vec::with_capacity(entries.len());
        for entry in entries {
            let Value::Array(fields) = entry else {
                return None;
            };
            let (Some(first), Some(last), Some(Value::Array(master))) =
                (int(fields.first()), int(fields.get(1)), fields.get(2))
            else {
                return None;
            };
            let host: String = redis::from_redis_value(master.first()?).ok()?;
            let host = if host.is_empty() || host == "?" {
                asked.to_owned()
            } else {
                host
            };
            let port = int(master.get(1))?;
            ranges.push((
                u16::try_from(first).ok()?,
                u16::try_from(last).ok()?,
                Arc::from(format!("{host}:{port}")),
            ));
        }
        ranges.sort();
        (!ranges.is_empty()).then_some(Self { ranges })
    }

    /// The node that serves `key`, if any does.
    pub(super) fn node_of(&self, key: &[u8]) -> Option<&Addr> {
        let slot = slot(key);
        self.ranges
            .iter()
            .find(|(first, last, _)| (*first..=*last).contains(&slot))
            .map(|(_, _, addr)| addr)
    }
}

/// Asks the cluster which node serves which slot (`seed`'s host stands for a node that
/// does not know its own).
pub(super) async fn refresh(conn: &mut Commands, seed: &ConnectionInfo) -> RedisResult<Topology> {
    let reply: Value = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
    let host = match &seed.addr {
        ConnectionAddr::Tcp(host, _) => host.as_str(),
        _ => "127.0.0.1",
    };
    Topology::from_cluster_slots(&reply, host)
        .ok_or_else(|| RedisError::from((ErrorKind::TypeError, "unexpected CLUSTER SLOTS reply")))
}

fn int(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

/// `seed` with its address replaced by `addr` (`host:port`), speaking RESP3 (push
/// messages).
pub(super) fn info_for(seed: &ConnectionInfo, addr: &str) -> Option<ConnectionInfo> {
    let (host, port) = addr.rsplit_once(':')?;
    let mut info = seed.clone();
    info.addr = ConnectionAddr::Tcp(host.to_owned(), port.parse().ok()?);
    info.redis.protocol = redis::ProtocolVersion::RESP3;
    Some(info)
}

/// The `host:port` of a connection's address.
pub(super) fn addr_of(info: &ConnectionInfo) -> Addr {
    match &info.addr {
        ConnectionAddr::Tcp(host, port) => format!("{host}:{port}").into(),
        other => format!("{other}").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis_cluster() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(slot(b"123456789"), 12739);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        // An empty tag does not count: the whole key is hashed.
        let whole = crc16::State::<crc16::XMODEM>::calculate(b"foo{}{bar}") % SLOTS;
        assert_eq!(slot(b"foo{}{bar}"), whole);
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
    }

    #[test]
    fn a_cluster_slots_reply() {
        let node = |port| {
            Value::Array(vec![
                Value::BulkString(b"127.0.0.1".to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let reply = Value::Array(vec![
            Value::Array(vec![Value::Int(5461), Value::Int(10922), node(7001)]),
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node(7000),
                node(7003),
            ]),
        ]);
        let topology = Topology::from_cluster_slots(&reply, "10.0.0.9").unwrap();
        // "foo" is in slot 12182, served by no one here.
        assert_eq!(topology.node_of(b"foo"), None);
        assert_eq!(topology.node_of(b"123456789").map(|a| &**a), None);
        // "c" is in slot 7365, "b" in 3300.
        assert_eq!(
            topology.node_of(b"x{c}y").map(|a| &**a),
            Some("127.0.0.1:7001")
        );
        assert_eq!(
            topology.node_of(b"{b}").map(|a| &**a),
            Some("127.0.0.1:7000")
        );
        assert!(Topology::from_cluster_slots(&Value::Nil, "h").is_none());
        // A node that does not know its address: the one asked.
        let unnamed = Value::Array(vec![Value::Array(vec![
            Value::Int(0),
            Value::Int(16383),
            Value::Array(vec![Value::BulkString(Vec::new()), Value::Int(7000)]),
        ])]);
        let topology = Topology::from_cluster_slots(&unnamed, "h").unwrap();
        assert_eq!(topology.node_of(b"x").map(|a| &**a), Some("h:7000"));
    }
}
