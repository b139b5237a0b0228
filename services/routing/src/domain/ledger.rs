//! The ledger (台账): every action on a case is an entry, chained to the
//! previous entry of the jurisdiction's ledger by hash, so a changed, removed
//! or inserted entry shows when the chain is recomputed.

use zhengqi_shared::chain;

use super::{CaseAction, CaseState, Level};

/// One entry of a jurisdiction's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub jurisdiction_code: String,
    /// Position in the jurisdiction's ledger, from 1, gap-free.
    pub sequence: u64,
    pub case_id: String,
    pub action: CaseAction,
    pub from_state: CaseState,
    pub to_state: CaseState,
    pub actor: String,
    pub actor_role: String,
    pub create_time: i64,
    pub note: String,
    pub level: Level,
    pub department_id: String,
    pub previous_hash: String,
    pub entry_hash: String,
}

/// The fields an entry's hash covers, in order.
fn fields(entry: &Entry) -> [String; 12] {
    [
        entry.jurisdiction_code.clone(),
        entry.sequence.to_string(),
        entry.case_id.clone(),
        entry.action.as_str().to_owned(),
        entry.from_state.as_str().to_owned(),
        entry.to_state.as_str().to_owned(),
        entry.actor.clone(),
        entry.actor_role.clone(),
        entry.create_time.to_string(),
        entry.note.clone(),
        entry.level.as_str().to_owned(),
        entry.department_id.clone(),
    ]
}

/// The content an entry's hash covers (`zhengqi_shared::chain::canonical`).
pub fn canonical_content(entry: &Entry) -> String {
    let fields = fields(entry);
    chain::canonical(&fields.each_ref().map(String::as_str))
}

/// Hex SHA-256 over the previous entry's hash and this entry's canonical content.
pub fn entry_hash(previous_hash: &str, entry: &Entry) -> String {
    let fields = fields(entry);
    chain::link_hash(previous_hash, &fields.each_ref().map(String::as_str))
}

/// Links `entry` after the head (`sequence`, `hash`) of its ledger: sets its
/// sequence, previous hash and own hash.
pub fn chain(entry: &mut Entry, head_sequence: u64, head_hash: &str) {
    entry.sequence = head_sequence + 1;
    entry.previous_hash = head_hash.to_owned();
    entry.entry_hash = entry_hash(head_hash, entry);
}

/// The first entry that does not fit the chain, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// Index into the checked entries.
    pub index: usize,
    pub problem: String,
}

/// Where a check of consecutive entries stands, so a long ledger can be
/// checked page by page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verifier {
    pub checked: u64,
    pub head_sequence: u64,
    pub head_hash: String,
}

impl Verifier {
    /// Checks the next `entries` (in sequence order) against the chain so far.
    pub fn check(&mut self, entries: &[Entry]) -> Result<(), Broken> {
        let mut check = chain::ChainCheck {
            checked: self.checked,
            head_sequence: self.head_sequence,
            head_hash: std::mem::take(&mut self.head_hash),
        };
        let mut outcome = Ok(());
        for (index, entry) in entries.iter().enumerate() {
            let fields = fields(entry);
            let fields = fields.each_ref().map(String::as_str);
            if let Err(broken) = check.next(
                entry.sequence,
                &entry.previous_hash,
                &entry.entry_hash,
                &fields,
            ) {
                let problem = match broken {
                    chain::Break::Missing { after, found } => {
                        format!(
                            "第 {found} 条紧接第 {after} 条，其间的条目缺失（entry {found} follows entry {after}: entries are missing）"
                        )
                    }
                    chain::Break::Relinked { sequence } => format!(
                        "第 {sequence} 条记载的前一条哈希与前一条不符（entry {sequence} names previous hash {:?}, but the entry before it hashes to {:?}）",
                        entry.previous_hash, check.head_hash
                    ),
                    chain::Break::Altered { sequence } => format!(
                        "第 {sequence} 条与其哈希不符，写入后内容被改动（entry {sequence} does not match its hash: its content was changed after it was written）"
                    ),
                };
                outcome = Err(Broken { index, problem });
                break;
            }
        }
        self.checked = check.checked;
        self.head_sequence = check.head_sequence;
        self.head_hash = check.head_hash;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize) -> Vec<Entry> {
        let mut head = (0, String::new());
        (0..n)
            .map(|i| {
                let mut entry = Entry {
                    jurisdiction_code: "510821".into(),
                    sequence: 0,
                    case_id: format!("510821-case{i}"),
                    action: CaseAction::AddProgress,
                    from_state: CaseState::InProgress,
                    to_state: CaseState::InProgress,
                    actor: "handler@510821".into(),
                    actor_role: "handler".into(),
                    create_time: 1_000 + i as i64,
                    note: format!("第{i}次进展"),
                    level: Level::County,
                    department_id: "510821-jrj".into(),
                    previous_hash: String::new(),
                    entry_hash: String::new(),
                };
                chain(&mut entry, head.0, &head.1);
                head = (entry.sequence, entry.entry_hash.clone());
                entry
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let entries = entries(5);
        assert_eq!(entries[0].previous_hash, "");
        assert_eq!(entries[1].previous_hash, entries[0].entry_hash);
        assert_eq!(entries[0].entry_hash.len(), 64);
        let mut verifier = Verifier::default();
        verifier.check(&entries[..2]).unwrap();
        verifier.check(&entries[2..]).unwrap();
        assert_eq!(verifier.checked, 5);
        assert_eq!(verifier.head_hash, entries[4].entry_hash);
    }

    #[test]
    fn a_changed_note_breaks_its_own_entry() {
        let mut entries = entries(4);
        entries[2].note = "改过的".into();
        let broken = Verifier::default().check(&entries).unwrap_err();
        assert_eq!(broken.index, 2);
        assert!(broken.problem.contains("changed"), "{}", broken.problem);
    }

    #[test]
    fn a_removed_entry_is_a_gap() {
        let mut entries = entries(4);
        entries.remove(1);
        let broken = Verifier::default().check(&entries).unwrap_err();
        assert_eq!(broken.index, 1);
        assert!(broken.problem.contains("missing"), "{}", broken.problem);
    }

    #[test]
    fn fields_cannot_be_shifted_into_each_other() {
        let mut a = entries(1).remove(0);
        let mut b = a.clone();
        a.actor = "ab".into();
        a.actor_role = "c".into();
        b.actor = "a".into();
        b.actor_role = "bc".into();
        assert_ne!(entry_hash("", &a), entry_hash("", &b));
    }
}
