//! A database written by the schema-1 build (each run's command kept as words in
//! `settings.argv`) opens under schema 2: its runs list, show the same command, and an
//! interrupted run resumes. `tests/fixtures/db-schema1` was made by that build (commit
//! cd607e3): `run ingest` of the sample's predictions (run 1, finished), then `run train
//! --model tiny --config ner-demo --max-steps 400 --batch-size 2 --max-test 3` killed with
//! SIGKILL mid-training (run 2, interrupted, no checkpoint).

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

mod common;

use common::{ok, show, with_db};
use std::path::Path;

#[test]
fn a_schema_1_database_opens_lists_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    common::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/db-schema1"),
        &db,
    );
    // The run's model was named `tiny`, relative to where it ran.
    ok(common::ie_bench()
        .args([
            "model", "init", "--shape", "tiny", "--seed", "1", "--config", "ner-demo",
        ])
        .args(["--out", "tiny"])
        .current_dir(tmp.path())
        .output()
        .unwrap());

    let list = ok(with_db(&db).arg("runs").output().unwrap());
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.contains("ingest") && list.contains("finished") && list.contains("interrupted"),
        "{list}"
    );
    let spec = &show(&db, "2")["spec"]["train"];
    assert_eq!(spec["model"], "tiny", "{spec}");
    assert_eq!(spec["settings"]["max_steps"], 400, "{spec}");
    assert_eq!(spec["prompts"]["config"], "ner-demo", "{spec}");
    let text = ok(with_db(&db).args(["runs", "show", "2"]).output().unwrap());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(
            "command: ie-bench run train --model tiny --config ner-demo --batch-size 2 \
             --max-steps 400 --max-test 3"
        ),
        "{text}"
    );
    {
        let store = ie_bench::store::Store::open(&db).unwrap();
        assert_eq!(store.schema_version().unwrap(), 2);
        // Its output folder was where the fixture was made; keep this test's files here.
        let out = tmp.path().join("run-2").display().to_string();
        store
            .update_run(2, |m| m.out_dir = Some(out.clone()))
            .unwrap();
    }
    let resumed = with_db(&db)
        .args(["runs", "resume", "2"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    ok(resumed);
    let train = show(&db, "2");
    assert_eq!(train["status"], "finished", "{}", train["error"]);
    assert!(!train["scores"].is_null(), "test scores stored");
}
