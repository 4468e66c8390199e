//! Ids of two numbers, `<n>-<mark>`: the shape every remote engine's ids take (Redis's
//! stream ids in decimal, NATS's sequence and epoch in base 36, ...).

use crate::hub::Position;

/// The id of `position`, `<n>-<mark>`, the mark in `radix` (2 to 36, lower case).
pub(crate) fn marked_id(position: Position, radix: u32) -> String {
    let (n, mark) = position.parts();
    format!("{n}-{}", in_radix(mark, radix))
}

/// The position of an id made by [`marked_id`] with `radix`, whose mark is at most
/// `max_mark`; `None` for any other string.
pub(crate) fn parse_marked(id: &str, radix: u32, max_mark: u64) -> Option<Position> {
    let (n, mark) = id.split_once('-')?;
    let digits = |s: &str, radix| {
        !s.is_empty()
            && s.len() <= 20
            && s.bytes()
                .all(|b| (b as char).is_digit(radix) && !b.is_ascii_uppercase())
    };
    if !digits(n, 10) || !digits(mark, radix) {
        return None;
    }
    let mark = u64::from_str_radix(mark, radix).ok()?;
    (mark <= max_mark).then_some(())?;
    Some(Position::new(n.parse().ok()?, mark))
}

fn in_radix(mut n: u64, radix: u32) -> String {
    let radix = u64::from(radix.clamp(2, 36));
    let mut digits = Vec::new();
    loop {
        // Below 36: the cast keeps it.
        let digit = (n % radix) as u8;
        digits.push(if digit < 10 {
            b'0' + digit
        } else {
            b'a' + digit - 10
        });
        n /= radix;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_ids_round_trip() {
        let at = Position::new(1_700_000_000_000, 3);
        assert_eq!(marked_id(at, 10), "1700000000000-3");
        assert_eq!(parse_marked("1700000000000-3", 10, u64::MAX), Some(at));
        assert_eq!(marked_id(Position::new(1, 35), 36), "1-z");
        assert_eq!(
            marked_id(Position::new(7, u64::MAX), 10),
            format!("7-{}", u64::MAX)
        );
        assert_eq!(parse_marked("1-z", 36, 35), Some(Position::new(1, 35)));
        assert_eq!(parse_marked("1-z", 36, 34), None);
        let bad = ["", "1", "1-", "-1", "a-1", "1-1-1", "1-A", "+1-0", "1 -0"];
        for bad in bad.into_iter().chain(["99999999999999999999-0", "1-a"]) {
            assert_eq!(parse_marked(bad, 10, u64::MAX), None, "{bad:?}");
        }
    }
}
