//! Stored runs through the real binary and a real sled database: a training run killed with
//! SIGKILL and resumed holds every metric step once and a complete score table.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn bin(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ie-bench"));
    c.arg("--db").arg(db);
    c
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: Output) -> serde_json::Value {
    serde_json::from_slice(&ok(out).stdout).unwrap()
}

#[test]
fn a_killed_training_run_resumes_with_each_step_stored_once() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let model = tmp.path().join("m");
    ok(bin(&db)
        .args(["model", "init", "--shape", "tiny", "--out"])
        .arg(&model)
        .output()
        .unwrap());
    let mut child = bin(&db)
        .args(["run", "train", "--lr", "3e-3", "--batch-size", "16"])
        .args(["--max-steps", "60", "--save-every", "10", "--model"])
        .arg(&model)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !db.join("runs/1/checkpoint-20").exists() {
        assert!(Instant::now() < deadline, "no checkpoint-20 appeared");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let runs = json(
        bin(&db)
            .args(["runs", "--format", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(runs[0]["id"], 1);
    assert_eq!(runs[0]["kind"], "train");
    assert_eq!(runs[0]["status"], "interrupted");

    ok(bin(&db).args(["runs", "resume", "1"]).output().unwrap());
    let show = json(
        bin(&db)
            .args(["runs", "show", "1", "--format", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(show["status"], "finished");
    let steps: Vec<u64> = show["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, (1..=60).collect::<Vec<u64>>());
    assert!(show["metrics"][59]["loss"].as_f64().unwrap().is_finite());

    // Every (task, dataset) of the test split has a row.
    let prompts = ok(bin(&db)
        .args(["prompts", "--split", "test", "--out", "-"])
        .output()
        .unwrap());
    let want: BTreeSet<(String, String)> = String::from_utf8(prompts.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["Task"].as_str().unwrap().to_string(),
                v["Dataset"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut got = BTreeSet::new();
    for (task, t) in show["scores"]["tasks"].as_object().unwrap() {
        for (name, d) in t["datasets"].as_object().unwrap() {
            assert!(d["n"].as_u64().unwrap() > 0);
            got.insert((task.clone(), name.clone()));
        }
    }
    assert_eq!(got, want);
}

/// While one process trains (and holds the database), another reads the run again and again
/// through it: every answer is whole, steps are contiguous from 1, and none disappears.
#[test]
fn a_reader_process_sees_whole_records_while_a_job_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let model = tmp.path().join("m");
    ok(bin(&db)
        .args(["model", "init", "--shape", "tiny", "--out"])
        .arg(&model)
        .output()
        .unwrap());
    let mut writer = bin(&db)
        .args(["run", "train", "--lr", "3e-3", "--batch-size", "4"])
        .args(["--max-steps", "150", "--save-every", "75", "--model"])
        .arg(&model)
        .stderr(std::fs::File::create(tmp.path().join("writer.log")).unwrap())
        .spawn()
        .unwrap();
    let mut seen = 0usize;
    let mut mid_run_reads = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done = writer.try_wait().unwrap().is_some();
        let out = bin(&db)
            .args(["runs", "show", "1", "--format", "json"])
            .output()
            .unwrap();
        if out.status.success() {
            let show: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!(
                    "torn answer ({e}): {}",
                    String::from_utf8_lossy(&out.stdout)
                )
            });
            let steps: Vec<u64> = show["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["step"].as_u64().unwrap())
                .collect();
            assert_eq!(steps, (1..=steps.len() as u64).collect::<Vec<_>>());
            assert!(
                steps.len() >= seen,
                "steps went from {seen} to {}",
                steps.len()
            );
            seen = steps.len();
            if (1..150).contains(&seen) && show["status"] == "running" {
                mid_run_reads += 1;
            }
        } else {
            // Only before the run exists (the writer has not created it yet).
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                seen == 0 && err.contains("no run with id 1"),
                "after {seen} steps: {err}"
            );
        }
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "the writer did not finish");
    }
    assert!(
        writer.wait().unwrap().success(),
        "{}",
        std::fs::read_to_string(tmp.path().join("writer.log")).unwrap()
    );
    assert_eq!(seen, 150);
    assert!(
        mid_run_reads >= 3,
        "only {mid_run_reads} reads while the job ran"
    );
}
