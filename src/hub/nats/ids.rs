//! Event ids over NATS: `<stream sequence>-<epoch>`, the epoch naming the stream's
//! incarnation, so that an id from a stream since recreated is never read as one of
//! the new stream's.

use crate::hub::{Position, remote::Marks};

/// The stream's incarnation, from the time it was created: 40 bits of its nanoseconds,
/// so that a stream deleted and created again (or a server restarted without its store)
/// gets another one.
pub(super) fn epoch_of(created_unix_nanos: i128) -> u64 {
    // Keeps the low 40 bits: the cast cannot lose them.
    (created_unix_nanos as u64) & EPOCH_MASK
}

const EPOCH_MASK: u64 = (1 << 40) - 1;

/// The ids: `<sequence>-<epoch in base 36>`.
pub(super) const IDS: Marks = Marks::new(36, EPOCH_MASK);

/// The position of stream sequence `sequence` in `epoch`: positions of one epoch order
/// by sequence.
pub(super) fn position(sequence: u64, epoch: u64) -> Position {
    Position::new(sequence, epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let epoch = epoch_of(1_733_390_000_123_456_789);
        assert!(epoch <= EPOCH_MASK);
        let at = position(42, epoch);
        let id = IDS.id_of(at);
        assert!(id.starts_with("42-"), "{id}");
        assert_eq!(IDS.parse(&id), Some(at));
        assert_eq!(IDS.id_of(position(7, 0)), "7-0");
        let greatest = position(1, EPOCH_MASK);
        assert_eq!(IDS.parse(&IDS.id_of(greatest)), Some(greatest));
        assert_eq!(IDS.parse("1-zzzzzzzz"), None, "above 40 bits");
    }
}
