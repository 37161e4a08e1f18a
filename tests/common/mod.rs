//! Helpers the integration tests share: the real binary, and checks on its output.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `ie-bench` binary this test run built.
pub fn ie_bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ie-bench"))
}

/// `ie-bench --db DB`.
pub fn with_db(db: &Path) -> Command {
    let mut c = ie_bench();
    c.arg("--db").arg(db);
    c
}

/// The output of a command that must succeed; its stderr is the failure message otherwise.
pub fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The JSON a successful command printed.
pub fn json(out: Output) -> serde_json::Value {
    serde_json::from_slice(&ok(out).stdout).unwrap()
}

/// A tiny random model (trained tokenizer over the sample data) at `dir`.
pub fn tiny_model(dir: &Path) {
    ok(ie_bench()
        .args(["model", "init", "--shape", "tiny", "--out"])
        .arg(dir)
        .output()
        .unwrap());
}

/// `ie-bench runs show ID --format json`, which must succeed.
pub fn show(db: &Path, id: &str) -> serde_json::Value {
    json(
        with_db(db)
            .args(["runs", "show", id, "--format", "json"])
            .output()
            .unwrap(),
    )
}

/// A temporary directory holding a database path (`db`) and a tiny model (`m`).
pub fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let model = tmp.path().join("m");
    tiny_model(&model);
    (tmp, db, model)
}

/// A process holding `db`: an external run whose trainer waits until `release` exists. Its
/// socket is up when this returns; `end_holder` lets it finish.
pub fn holder(db: &Path, release: &Path) -> Child {
    holder_after(db, release, "")
}

/// `holder`, whose trainer first runs the shell commands `first`.
pub fn holder_after(db: &Path, release: &Path, first: &str) -> Child {
    let script = format!("{first} while [ ! -e \"$0\" ]; do sleep 0.05; done");
    let child = external_run(db, &["-c", &script, release.to_str().unwrap()]);
    let start = Instant::now();
    while !db.join("ie-bench.sock").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the holder's socket never appeared"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    child
}

pub fn end_holder(mut child: Child, release: &Path) {
    std::fs::write(release, "").unwrap();
    let _ = child.wait();
}

/// `ie-bench run external -- sh ARGS...` in the background, its output dropped.
pub fn external_run(db: &Path, sh_args: &[&str]) -> Child {
    with_db(db)
        .args([
            "run",
            "external",
            "--predictions",
            "/nonexistent",
            "--",
            "sh",
        ])
        .args(sh_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Copies the directory tree `src` to `dst`.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let to = dst.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &to);
        } else {
            std::fs::copy(&p, &to).unwrap();
        }
    }
}
