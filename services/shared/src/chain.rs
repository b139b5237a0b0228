//! Hash chains, for the records that must show tampering: the case ledger
//! (台账) and the gateway's audit. Each entry has a gap-free sequence number
//! and carries the hash of the entry before it; its own hash is the SHA-256 of
//! that previous hash and its fields, each length-prefixed so no two different
//! entries have the same text. A changed entry no longer matches its hash, a
//! removed one leaves a gap, an inserted one breaks the link after it.

use sha2::{Digest, Sha256};

/// The text an entry's hash covers: each field as `<length>:<field>\n`.
pub fn canonical(fields: &[&str]) -> String {
    let mut text = String::new();
    for field in fields {
        text.push_str(&field.len().to_string());
        text.push(':');
        text.push_str(field);
        text.push('\n');
    }
    text
}

/// Hex SHA-256 over `previous_hash` and the canonical text of `fields`.
pub fn link_hash(previous_hash: &str, fields: &[&str]) -> String {
    let mut digest = Sha256::new();
    digest.update(previous_hash.as_bytes());
    digest.update(b"\n");
    digest.update(canonical(fields).as_bytes());
    digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why an entry does not fit the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// Entries between `after` and `found` are gone.
    Missing { after: u64, found: u64 },
    /// The entry names another previous hash: something was removed or
    /// inserted before it.
    Relinked { sequence: u64 },
    /// The entry's content was changed after it was written.
    Altered { sequence: u64 },
}

/// A check of consecutive entries, page by page, from an anchor (the head of
/// the chain before the first entry checked).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChainCheck {
    pub checked: u64,
    pub head_sequence: u64,
    pub head_hash: String,
}

impl ChainCheck {
    /// Starts after the entry `sequence` whose hash is `hash` (0 and "" for
    /// the start of the chain).
    pub fn from_anchor(sequence: u64, hash: &str) -> Self {
        ChainCheck {
            checked: 0,
            head_sequence: sequence,
            head_hash: hash.to_owned(),
        }
    }

    /// Checks the next entry, given as stored.
    pub fn next(
        &mut self,
        sequence: u64,
        previous_hash: &str,
        entry_hash: &str,
        fields: &[&str],
    ) -> Result<(), Break> {
        if sequence != self.head_sequence + 1 {
            return Err(Break::Missing {
                after: self.head_sequence,
                found: sequence,
            });
        }
        if previous_hash != self.head_hash {
            return Err(Break::Relinked { sequence });
        }
        if entry_hash != link_hash(previous_hash, fields) {
            return Err(Break::Altered { sequence });
        }
        self.checked += 1;
        self.head_sequence = sequence;
        self.head_hash = entry_hash.to_owned();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<(u64, String, String, String)> {
        let mut head = String::new();
        (1..=n)
            .map(|sequence| {
                let field = format!("call {sequence}");
                let hash = link_hash(&head, &[&sequence.to_string(), &field]);
                let entry = (sequence, head.clone(), hash.clone(), field);
                head = hash;
                entry
            })
            .collect()
    }

    fn check(entries: &[(u64, String, String, String)]) -> Result<u64, Break> {
        let mut check = ChainCheck::default();
        for (sequence, previous, hash, field) in entries {
            check.next(*sequence, previous, hash, &[&sequence.to_string(), field])?;
        }
        Ok(check.checked)
    }

    #[test]
    fn an_untouched_chain_holds_and_each_kind_of_tampering_shows() {
        let entries = chain(5);
        assert_eq!(check(&entries), Ok(5));

        let mut removed = entries.clone();
        removed.remove(2);
        assert_eq!(check(&removed), Err(Break::Missing { after: 2, found: 4 }));

        let mut altered = entries.clone();
        altered[3].3 = "call 40".into();
        assert_eq!(check(&altered), Err(Break::Altered { sequence: 4 }));

        let mut relinked = entries;
        relinked[1].1 = "0".repeat(64);
        assert_eq!(check(&relinked), Err(Break::Relinked { sequence: 2 }));
    }

    #[test]
    fn fields_are_length_prefixed() {
        assert_ne!(link_hash("", &["ab", "c"]), link_hash("", &["a", "bc"]));
    }
}
