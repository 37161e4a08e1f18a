//! `ie-bench runs tag` and `runs note`: the user's labels and free-text note on a run, kept
//! in its manifest. Short writes: they run wherever the database is held (see `through`).

use anyhow::{bail, Result};

use super::through::Said;
use crate::store::{RunId, Store};

/// At most this many tags on a run, and this long each; a note at most `NOTE_MAX` bytes.
pub const TAGS_MAX: usize = 32;
pub const TAG_MAX: usize = 64;
pub const NOTE_MAX: usize = 4096;

/// A tag is a word: letters, digits and `-_.:/+=@`, so it can be typed, filtered on and shown
/// in one table cell.
fn check_tag(t: &str) -> Result<()> {
    let ok = |c: char| c.is_alphanumeric() || "-_.:/+=@".contains(c);
    if t.is_empty() || t.chars().count() > TAG_MAX || !t.chars().all(ok) {
        bail!(
            "tag {:?}: a tag is 1 to {TAG_MAX} letters, digits or -_.:/+=@ (no spaces)",
            crate::text::safe_string(t)
        );
    }
    Ok(())
}

/// Adds `add` to run `id`'s tags and takes `remove` off them.
pub fn tag(store: &Store, id: RunId, add: &[String], remove: &[String]) -> Result<Said> {
    for t in add {
        check_tag(t)?;
    }
    let mut m = store.run(id)?;
    m.tags.extend(add.iter().cloned());
    m.tags.retain(|t| !remove.contains(t));
    m.tags.sort();
    m.tags.dedup();
    if m.tags.len() > TAGS_MAX {
        bail!(
            "run {id} would have {} tags; at most {TAGS_MAX}",
            m.tags.len()
        );
    }
    let tags = m.tags.clone();
    store.update_run(id, |r| r.tags = tags.clone())?;
    let mut said = Said::default();
    said.note(format!(
        "run {id}: tags {}",
        if tags.is_empty() {
            "none".to_string()
        } else {
            tags.join(", ")
        }
    ));
    Ok(said)
}

/// Sets run `id`'s note (`None` or an empty text clears it).
pub fn note(store: &Store, id: RunId, text: Option<String>) -> Result<Said> {
    let text = text.filter(|t| !t.trim().is_empty());
    if let Some(t) = &text {
        if t.len() > NOTE_MAX {
            bail!(
                "a note is at most {NOTE_MAX} bytes; this one has {}",
                t.len()
            );
        }
    }
    store.run(id)?;
    store.update_run(id, |r| r.note = text.clone())?;
    let mut said = Said::default();
    said.note(match &text {
        Some(_) => format!("run {id}: note saved"),
        None => format!("run {id}: note cleared"),
    });
    Ok(said)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RunKind, RunManifest};

    #[test]
    fn tags_are_words_kept_sorted_once_and_notes_clear() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("db")).unwrap();
        let id = store
            .create_run(&RunManifest::new(RunKind::Eval, 0))
            .unwrap();
        let s = |v: &[&str]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        tag(&store, id, &s(&["lr-sweep", "baseline", "lr-sweep"]), &[]).unwrap();
        assert_eq!(store.run(id).unwrap().tags, ["baseline", "lr-sweep"]);
        tag(&store, id, &s(&["v2"]), &s(&["baseline"])).unwrap();
        assert_eq!(store.run(id).unwrap().tags, ["lr-sweep", "v2"]);
        for bad in ["", "two words", "a\u{1b}[31m"] {
            assert!(tag(&store, id, &s(&[bad]), &[]).is_err(), "{bad:?}");
        }
        assert_eq!(
            store.run(id).unwrap().tags,
            ["lr-sweep", "v2"],
            "a refused tag changes nothing"
        );
        note(
            &store,
            id,
            Some("warm-up 10 steps; compare with run 3".into()),
        )
        .unwrap();
        assert_eq!(
            store.run(id).unwrap().note.as_deref(),
            Some("warm-up 10 steps; compare with run 3")
        );
        note(&store, id, Some("  ".into())).unwrap();
        assert_eq!(store.run(id).unwrap().note, None);
        assert!(note(&store, id, Some("x".repeat(NOTE_MAX + 1))).is_err());
        assert!(tag(&store, 99, &s(&["x"]), &[]).is_err(), "no such run");
    }
}
