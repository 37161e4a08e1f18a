//! Byte-ordered tuple keys: comparing two encoded keys as bytes orders them as tuples, so a
//! prefix range scan serves "everything of run R" or "everything of dataset D".
//!
//! Integers are big-endian. Strings end with `00 01`; a NUL inside a string is written `00 FF`,
//! so no string is a prefix of another's encoding and "a" < "a\0" < "ab" still holds.

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl Key {
    pub fn new() -> Key {
        Key(Vec::new())
    }

    pub fn u64(mut self, n: u64) -> Key {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    pub fn u32(mut self, n: u32) -> Key {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    pub fn str(mut self, s: &str) -> Key {
        for &b in s.as_bytes() {
            if b == 0 {
                self.0.extend_from_slice(&[0, 0xFF]);
            } else {
                self.0.push(b);
            }
        }
        self.0.extend_from_slice(&[0, 1]);
        self
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Reads a key back, field by field, in the order it was built.
pub struct KeyReader<'a> {
    rest: &'a [u8],
}

impl<'a> KeyReader<'a> {
    pub fn new(bytes: &'a [u8]) -> KeyReader<'a> {
        KeyReader { rest: bytes }
    }

    pub fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.rest.split_at_checked(8)?;
        self.rest = rest;
        Some(u64::from_be_bytes(head.try_into().ok()?))
    }

    pub fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.rest.split_at_checked(4)?;
        self.rest = rest;
        Some(u32::from_be_bytes(head.try_into().ok()?))
    }

    pub fn str(&mut self) -> Option<String> {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            match (self.rest.get(i)?, self.rest.get(i + 1)) {
                (0, Some(1)) => break,
                (0, Some(0xFF)) => out.push(0),
                (0, _) => return None,
                (&b, _) => {
                    out.push(b);
                    i += 1;
                    continue;
                }
            }
            i += 2;
        }
        self.rest = &self.rest[i + 2..];
        String::from_utf8(out).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_is_tuple_order() {
        let tuples: Vec<(u64, &str, u32)> = vec![
            (1, "", 0),
            (1, "a", 7),
            (1, "a\0", 0),
            (1, "a\0b", 0),
            (1, "ab", 0),
            (1, "b", 0),
            (2, "", 0),
            (256, "a", 1),
            (256, "a", 256),
        ];
        let keys: Vec<Key> = tuples
            .iter()
            .map(|&(a, b, c)| Key::new().u64(a).str(b).u32(c))
            .collect();
        for pair in keys.windows(2) {
            assert!(pair[0].as_bytes() < pair[1].as_bytes(), "{pair:?}");
        }
        for (k, &(a, b, c)) in keys.iter().zip(&tuples) {
            let mut r = KeyReader::new(k.as_bytes());
            assert_eq!(
                (r.u64(), r.str().as_deref(), r.u32()),
                (Some(a), Some(b), Some(c))
            );
        }
    }

    #[test]
    fn a_prefix_selects_exactly_its_tuples() {
        let run1 = Key::new().u64(1);
        let inside = Key::new().u64(1).str("CoNLL 2003").u64(5);
        let outside = Key::new().u64(2).str("CoNLL 2003").u64(5);
        assert!(inside.as_bytes().starts_with(run1.as_bytes()));
        assert!(!outside.as_bytes().starts_with(run1.as_bytes()));
        let ds = Key::new().u64(1).str("a");
        let other = Key::new().u64(1).str("ab").u64(0);
        assert!(!other.as_bytes().starts_with(ds.as_bytes()));
    }
}
