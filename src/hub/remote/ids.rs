//! Ids of two numbers, `<n>-<mark>`: the shape every remote engine's ids take (Redis's
//! stream ids in decimal, NATS's sequence and epoch in base 36, PostgreSQL's sequence
//! and mark in hex).

use crate::hub::Position;

/// How an engine writes a position as an id, `<n>-<mark>`: `n` in decimal, the mark in
/// a radix of its own (lower case), at most a greatest mark.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Marks {
    radix: u32,
    max: u64,
}

impl Marks {
    /// Marks in `radix` (2 to 36), none above `max`.
    pub(crate) const fn new(radix: u32, max: u64) -> Self {
        let radix = if radix < 2 { 2 } else { radix };
        let radix = if radix > 36 { 36 } else { radix };
        Self { radix, max }
    }

    /// The id of `position`.
    pub(crate) fn id_of(self, position: Position) -> String {
        let (n, mut mark) = position.parts();
        let radix = u64::from(self.radix);
        let mut digits = Vec::new();
        loop {
            // Below the radix: the cast keeps it.
            digits.extend(char::from_digit((mark % radix) as u32, self.radix));
            mark /= radix;
            if mark == 0 {
                break;
            }
        }
        let mark: String = digits.into_iter().rev().collect();
        format!("{n}-{mark}")
    }

    /// The position of an id made by [`id_of`](Marks::id_of); `None` for any other
    /// string.
    pub(crate) fn parse(self, id: &str) -> Option<Position> {
        let (n, mark) = id.split_once('-')?;
        let digits = |s: &str, radix| {
            !s.is_empty()
                && s.len() <= 20
                && s.bytes()
                    .all(|b| (b as char).is_digit(radix) && !b.is_ascii_uppercase())
        };
        if !digits(n, 10) || !digits(mark, self.radix) {
            return None;
        }
        let mark = u64::from_str_radix(mark, self.radix).ok()?;
        (mark <= self.max).then_some(())?;
        Some(Position::new(n.parse().ok()?, mark))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_ids_round_trip() {
        let (decimal, base36) = (Marks::new(10, u64::MAX), Marks::new(36, 35));
        let at = Position::new(1_700_000_000_000, 3);
        assert_eq!(decimal.id_of(at), "1700000000000-3");
        assert_eq!(decimal.parse("1700000000000-3"), Some(at));
        assert_eq!(base36.id_of(Position::new(1, 35)), "1-z");
        assert_eq!(Marks::new(16, 255).id_of(Position::new(4, 171)), "4-ab");
        assert_eq!(
            decimal.id_of(Position::new(7, u64::MAX)),
            format!("7-{}", u64::MAX)
        );
        assert_eq!(base36.parse("1-z"), Some(Position::new(1, 35)));
        assert_eq!(Marks::new(36, 34).parse("1-z"), None);
        let bad = ["", "1", "1-", "-1", "a-1", "1-1-1", "1-A", "+1-0", "1 -0"];
        for bad in bad.into_iter().chain(["99999999999999999999-0", "1-a"]) {
            assert_eq!(decimal.parse(bad), None, "{bad:?}");
        }
    }
}
