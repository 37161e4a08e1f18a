//! Gold corrections: an append-only log of edits, undos and redos. Nothing is ever rewritten;
//! the corrections in force are what replaying the log gives, and the log's length is the gold
//! version that scores computed against it record.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::{Key, KeyReader, Result, Store};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum GoldEvent {
    /// The ground truth of example `id` of `dataset` (`TASK/Name`) changes from `before` to
    /// `after`.
    Edit {
        dataset: String,
        id: String,
        before: String,
        after: String,
    },
    /// Takes back the edit with sequence number `of`.
    Undo { of: u64 },
    /// Applies the edit `of` again.
    Redo { of: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoldEntry {
    pub seq: u64,
    /// Unix seconds.
    pub at: u64,
    #[serde(flatten)]
    pub event: GoldEvent,
}

/// The log replayed.
#[derive(Debug, Default)]
pub struct GoldState {
    /// Number of log entries: 0 for the released gold.
    pub version: u64,
    /// Edits in force, oldest first (sequence numbers).
    pub applied: Vec<u64>,
    /// Undone edits that `redo` can restore, most recent last.
    pub redoable: Vec<u64>,
    edits: HashMap<u64, (String, String, String, String)>,
}

impl GoldState {
    /// The corrected ground truth per (dataset, id).
    pub fn corrections(&self) -> HashMap<(String, String), String> {
        let mut out = HashMap::new();
        for seq in &self.applied {
            let (dataset, id, _, after) = &self.edits[seq];
            out.insert((dataset.clone(), id.clone()), after.clone());
        }
        out
    }
}

impl Store {
    pub fn gold_log(&self) -> Result<Vec<GoldEntry>> {
        self.scan(&self.gold_edits, [])
    }

    pub fn gold_state(&self) -> Result<GoldState> {
        let mut state = GoldState::default();
        for entry in self.gold_log()? {
            state.version = entry.seq;
            match entry.event {
                GoldEvent::Edit {
                    dataset,
                    id,
                    before,
                    after,
                } => {
                    state.edits.insert(entry.seq, (dataset, id, before, after));
                    state.applied.push(entry.seq);
                    // A new edit ends the redo history, as in any editor.
                    state.redoable.clear();
                }
                GoldEvent::Undo { of } => {
                    state.applied.retain(|&s| s != of);
                    state.redoable.push(of);
                }
                GoldEvent::Redo { of } => {
                    state.redoable.retain(|&s| s != of);
                    state.applied.push(of);
                }
            }
        }
        Ok(state)
    }

    fn append_gold(&self, event: GoldEvent) -> Result<GoldEntry> {
        let _guard = self.sequence.lock().expect("sequence lock");
        let seq = match self.gold_edits.last()? {
            Some((k, _)) => KeyReader::new(&k).u64().unwrap_or(0) + 1,
            None => 1,
        };
        let entry = GoldEntry {
            seq,
            at: super::now(),
            event,
        };
        self.gold_edits
            .insert(Key::new().u64(seq), Store::encode(&entry))?;
        self.flush()?;
        Ok(entry)
    }

    pub fn gold_edit(
        &self,
        dataset: &str,
        id: &str,
        before: &str,
        after: &str,
    ) -> Result<GoldEntry> {
        self.append_gold(GoldEvent::Edit {
            dataset: dataset.to_string(),
            id: id.to_string(),
            before: before.to_string(),
            after: after.to_string(),
        })
    }

    /// Undoes the newest edit in force; `None` when there is none.
    pub fn gold_undo(&self) -> Result<Option<GoldEntry>> {
        match self.gold_state()?.applied.last() {
            Some(&of) => Ok(Some(self.append_gold(GoldEvent::Undo { of })?)),
            None => Ok(None),
        }
    }

    /// Redoes the most recently undone edit; `None` when there is none.
    pub fn gold_redo(&self) -> Result<Option<GoldEntry>> {
        match self.gold_state()?.redoable.last() {
            Some(&of) => Ok(Some(self.append_gold(GoldEvent::Redo { of })?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_and_redo_replay_from_the_log_after_reopening() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("db");
        {
            let s = Store::open(&path).unwrap();
            s.gold_edit("NER/d", "1", " None", " person: Ann").unwrap();
            s.gold_edit("NER/d", "2", " None", " location: Rome")
                .unwrap();
            s.gold_undo().unwrap().unwrap();
        }
        let s = Store::open(&path).unwrap();
        let state = s.gold_state().unwrap();
        assert_eq!(state.version, 3);
        let c = state.corrections();
        assert_eq!(c.len(), 1);
        assert_eq!(c[&("NER/d".to_string(), "1".to_string())], " person: Ann");
        s.gold_redo().unwrap().unwrap();
        assert_eq!(s.gold_state().unwrap().corrections().len(), 2);
        assert!(s.gold_redo().unwrap().is_none());
        s.gold_undo().unwrap();
        s.gold_undo().unwrap();
        assert!(s.gold_undo().unwrap().is_none());
        assert!(s.gold_state().unwrap().corrections().is_empty());
        // A new edit after undos clears what could be redone.
        s.gold_edit("NER/d", "3", " None", " person: Bo").unwrap();
        assert!(s.gold_redo().unwrap().is_none());
        assert_eq!(s.gold_log().unwrap().len(), 7);
    }
}
