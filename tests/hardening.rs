//! Hardening (issue 13): each test reproduces an attack or a fault against the real binary and
//! a real database, and checks it ends in a clear message with nothing lost.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{end_holder, external_run, holder, json, ok, setup, show, tiny_model, with_db as bin};

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn sample_predictions() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data/predictions/supervised-test.jsonl")
}

fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// One request line, one answer line.
fn ask(sock: &Path, request: &str) -> String {
    let mut conn = UnixStream::connect(sock).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // A holder that refuses may close before the request is written: its answer still waits
    // to be read.
    let _ = conn.write_all(request.as_bytes());
    let _ = conn.write_all(b"\n");
    let mut answer = String::new();
    BufReader::new(conn).read_line(&mut answer).unwrap();
    answer
}

/// Run as another user by the socket test below: connects to `$IE_BENCH_TEST_SOCKET`, sends
/// `$IE_BENCH_TEST_REQUEST` and prints the answer (or the connection error).
#[test]
fn socket_client_for_other_users() {
    let (Ok(sock), Ok(request)) = (
        std::env::var("IE_BENCH_TEST_SOCKET"),
        std::env::var("IE_BENCH_TEST_REQUEST"),
    ) else {
        return;
    };
    match UnixStream::connect(&sock) {
        Ok(mut conn) => {
            conn.set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let _ = conn.write_all(format!("{request}\n").as_bytes());
            let mut answer = String::new();
            let _ = BufReader::new(conn).read_line(&mut answer);
            println!("ANSWER {answer}");
        }
        Err(e) => println!("CONNECT-ERROR {e}"),
    }
}

/// Runs `socket_client_for_other_users` in this test binary as uid/gid 65534.
fn as_nobody(sock: &Path, request: &str) -> String {
    use std::os::unix::process::CommandExt;
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "socket_client_for_other_users", "--nocapture"])
        .env("IE_BENCH_TEST_SOCKET", sock)
        .env("IE_BENCH_TEST_REQUEST", request)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A temporary directory with a holder of `DB` running in it: (dir, db, release, holder, socket).
fn held() -> (tempfile::TempDir, PathBuf, PathBuf, Child, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let release = tmp.path().join("release");
    let child = holder(&db, &release);
    let sock = db.join("ie-bench.sock");
    (tmp, db, release, child, sock)
}

#[test]
fn the_socket_serves_only_its_own_user() {
    let (tmp, db, release, child, sock) = held();
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o}");
    // Its own user is served.
    assert!(ask(&sock, r#"{"op":"runs"}"#).starts_with(r#"{"ok":"#));
    if !is_root() {
        eprintln!(
            "SKIPPED: the other-user half of this test needs root (to run a client as uid 65534)"
        );
        end_holder(child, &release);
        return;
    }
    let mark = tmp.path().join("pwned");
    let attack = serde_json::json!({
        "op": "submit",
        "words": ["external", "--predictions", "/nonexistent", "--", "sh", "-c",
                  format!("touch {}", mark.display())],
    })
    .to_string();
    for dir in [tmp.path(), db.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // As made, the socket's mode keeps other users out...
    let answer = as_nobody(&sock, &attack);
    assert!(answer.contains("CONNECT-ERROR"), "{answer}");
    // ...and were it opened up (a careless chmod), the peer check still refuses them.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let answer = as_nobody(&sock, &attack);
    assert!(
        answer.contains("refused") && answer.contains("serves only that user"),
        "{answer}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(!mark.exists(), "another user's submit ran a command");
    assert_eq!(
        json(
            bin(&db)
                .args(["runs", "--format", "json"])
                .output()
                .unwrap()
        )
        .as_array()
        .unwrap()
        .len(),
        1,
        "another user's submit stored a run"
    );
    end_holder(child, &release);
}

#[test]
fn the_socket_caps_requests_and_connections_and_a_stopped_holder_is_reported() {
    let (_tmp, db, release, child, sock) = held();
    // 2 MiB without a newline: refused at 1 MiB and cut off.
    let mut conn = UnixStream::connect(&sock).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = conn.write_all(&vec![b'a'; 2 << 20]);
    let mut answer = String::new();
    let mut reader = BufReader::new(conn);
    reader.read_line(&mut answer).unwrap();
    assert!(
        answer.contains("a request is at most 1048576 bytes"),
        "{answer}"
    );
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    // 64 idle connections are served; the 65th is told why not.
    let idle: Vec<UnixStream> = (0..64)
        .map(|_| UnixStream::connect(&sock).unwrap())
        .collect();
    // The holder takes them in as fast as a loaded machine lets it.
    wait_until("the 65th connection to be refused", 20, || {
        ask(&sock, r#"{"op":"runs"}"#).contains("already serves 64 connections")
    });
    drop(idle);
    wait_until("the idle connections to be freed", 20, || {
        ask(&sock, r#"{"op":"runs"}"#).starts_with(r#"{"ok":"#)
    });
    // A stopped holder: readers give up after about 10 s with a message that says so.
    let pid = child.id() as libc::pid_t;
    // SAFETY: signals to our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let start = Instant::now();
    let out = bin(&db).args(["runs"]).output().unwrap();
    let waited = start.elapsed();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("did not answer within 10 s"), "{stderr}");
    assert!(waited < Duration::from_secs(25), "waited {waited:?}");
    end_holder(child, &release);
}

#[test]
fn a_symlinked_lock_or_socket_is_refused_and_its_target_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("precious.txt");
    std::fs::write(&victim, "precious").unwrap();
    // A link to the victim planted at `name` in a fresh database; the command must fail,
    // saying `expected`, and leave the victim as it was.
    let planted = |dir: &str, name: &str, args: &[&str], expected: &str| {
        let db = tmp.path().join(dir);
        std::fs::create_dir_all(&db).unwrap();
        std::os::unix::fs::symlink(&victim, db.join(name)).unwrap();
        let out = bin(&db).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains(expected), "{stderr}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    };
    planted(
        "db",
        "ie-bench.lock",
        &["runs"],
        "ie-bench.lock: is a symbolic link",
    );
    let sample = sample_predictions();
    planted(
        "db2",
        "ie-bench.sock",
        &["run", "ingest", sample.to_str().unwrap()],
        "ie-bench.sock: exists and is not a socket",
    );
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the filesystem is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 1 << 16];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_loses_nothing_acknowledged_and_the_database_opens_again() {
    let tmp = tempfile::tempdir().unwrap();
    let mount = tmp.path().join("small");
    let fs = if is_root() {
        Tmpfs::mount(&mount, "24m")
    } else {
        None
    };
    let db = match &fs {
        Some(fs) => fs.0.join("db"),
        None => {
            eprintln!("SKIPPED (the real full disk): mounting a tmpfs needs root; checking the stale snapshot sled leaves instead");
            tmp.path().join("db")
        }
    };
    ok(bin(&db)
        .args(["run", "ingest"])
        .arg(sample_predictions())
        .output()
        .unwrap());
    if let Some(fs) = &fs {
        let filler = fs.0.join("filler");
        fill(&filler);
        let out = bin(&db)
            .args(["run", "ingest"])
            .arg(sample_predictions())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "an ingest on a full disk succeeded");
        assert!(
            stderr.contains("the disk is full") && stderr.contains(&db.display().to_string()),
            "{stderr}"
        );
        std::fs::remove_file(&filler).unwrap();
    }
    // What sled 0.34.7 leaves when a snapshot write fails: an empty, half-made snapshot.
    std::fs::write(db.join("sled/snap.00000000FFFFFFFF.generating"), "").unwrap();
    let out = bin(&db)
        .args(["runs", "--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a snapshot sled left half-written"),
        "{stderr}"
    );
    let runs = json(out);
    assert_eq!(runs[0]["status"], "finished", "{runs}");
    let scores = show(&db, "1")["scores"].clone();
    assert!(
        scores["tasks"].as_object().is_some_and(|t| !t.is_empty()),
        "{scores}"
    );
}

#[test]
fn a_checkpoint_cut_short_by_a_full_disk_leaves_no_half_written_directory() {
    if !is_root() {
        eprintln!("SKIPPED: mounting a small filesystem needs root");
        return;
    }
    let (tmp, db, model) = setup();
    let Some(fs) = Tmpfs::mount(&tmp.path().join("out"), "256k") else {
        eprintln!("SKIPPED: mount -t tmpfs failed here");
        return;
    };
    let out = bin(&db)
        .args([
            "run",
            "train",
            "--max-steps",
            "2",
            "--save-every",
            "1",
            "--model",
        ])
        .arg(&model)
        .arg("--out")
        .arg(&fs.0)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a checkpoint fitted in 256 KiB?");
    assert!(stderr.contains("the disk is full"), "{stderr}");
    let left: Vec<String> = std::fs::read_dir(&fs.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!left.iter().any(|n| n.ends_with(".tmp")), "{left:?}");
    assert_eq!(show(&db, "1")["status"], "failed");
}

#[test]
fn non_finite_losses_stay_readable_and_stop_on_nan_ends_the_run() {
    let (tmp, db, model) = setup();
    let train = |extra: &[&str]| {
        bin(&db)
            .args([
                "run",
                "train",
                "--lr",
                "1e30",
                "--max-steps",
                "6",
                "--model",
            ])
            .arg(&model)
            .args(["--out"])
            .arg(tmp.path().join(format!("out{}", extra.len())))
            .args(extra)
            .output()
            .unwrap()
    };
    ok(train(&[]));
    let run = show(&db, "1");
    let losses: Vec<String> = run["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["loss"].to_string())
        .collect();
    assert_eq!(losses.len(), 6);
    assert!(
        losses.iter().any(|l| l == "\"NaN\"" || l.contains("inf")),
        "{losses:?}"
    );
    let text = ok(bin(&db).args(["runs", "show", "1"]).output().unwrap());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("NaN") || text.contains("inf"), "{text}");
    let out = train(&["--stop-on-nan"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("diverged") && stderr.contains("--stop-on-nan"),
        "{stderr}"
    );
    assert_eq!(show(&db, "2")["status"], "diverged");

    // An external trainer that logs a NaN loss: its predictions are still scored...
    let pred = tmp.path().join("pred.jsonl");
    let script = format!(
        "echo \"{{'loss': nan}}\"; echo \"{{'loss': 0.5}}\"; cp {} {}",
        sample_predictions().display(),
        pred.display()
    );
    let external = |extra: &[&str]| {
        bin(&db)
            .args(["run", "external", "--predictions"])
            .arg(&pred)
            .args(extra)
            .args(["--", "sh", "-c", &script])
            .output()
            .unwrap()
    };
    ok(external(&[]));
    let run = show(&db, "3");
    assert_eq!(run["status"], "finished");
    assert_eq!(run["metrics"][0]["loss"], "NaN");
    assert!(run["scores"]["tasks"]
        .as_object()
        .is_some_and(|t| !t.is_empty()));
    // ...and with --stop-on-nan it ends diverged at the first one.
    assert!(!external(&["--stop-on-nan"]).status.success());
    assert_eq!(show(&db, "4")["status"], "diverged");
}

#[test]
fn a_hostile_weights_header_fails_the_run_not_the_process() {
    let (_tmp, db, model) = setup();
    let weights = model.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&weights, bytes).unwrap();
    let out = bin(&db)
        .args(["run", "eval", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("model.safetensors") && stderr.contains("header claims"),
        "{stderr}"
    );
    let run = show(&db, "1");
    assert_eq!(run["status"], "failed");
    assert!(run["error"].as_str().unwrap().contains("header claims"));
}

#[test]
fn an_external_trainer_printing_bytes_that_are_not_utf8_keeps_running() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let pred = tmp.path().join("pred.jsonl");
    let script = format!(
        "printf 'progress \\377\\376\\n'; echo \"{{'loss': 0.25}}\"; cp {} {}",
        sample_predictions().display(),
        pred.display()
    );
    ok(bin(&db)
        .args(["run", "external", "--predictions"])
        .arg(&pred)
        .args(["--", "sh", "-c", &script])
        .output()
        .unwrap());
    let run = show(&db, "1");
    assert_eq!(run["status"], "finished", "{run}");
    assert_eq!(run["metrics"].as_array().unwrap().len(), 1);
    let log = std::fs::read_to_string(db.join("runs/1/external.log")).unwrap();
    assert!(log.contains("progress \u{fffd}\u{fffd}"), "{log:?}");
}

fn group_alive(pgid: u32) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    unsafe { libc::kill(-(pgid as libc::pid_t), 0) == 0 }
}

#[test]
fn a_trainer_that_outlives_its_holder_is_not_started_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let mut holder = external_run(&db, &["-c", "sleep 60; true"]);
    wait_until("the trainer to start", 60, || {
        db.join("ie-bench.sock").exists()
            && bin(&db)
                .args(["runs", "show", "1", "--format", "json"])
                .output()
                .ok()
                .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
                .is_some_and(|v| v["trainer_group"].is_u64())
    });
    let group = show(&db, "1")["trainer_group"].as_u64().unwrap() as u32;
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        group_alive(group),
        "the trainer's group died with its holder"
    );
    let run = show(&db, "1");
    assert_eq!(run["status"], "interrupted");
    let out = bin(&db).args(["runs", "resume", "1"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("still running (process group {group})")),
        "{stderr}"
    );
    // Cancelling the run stops what is left of its trainer.
    ok(bin(&db).args(["runs", "cancel", "1"]).output().unwrap());
    wait_until("the orphaned trainer to stop", 20, || !group_alive(group));
    assert_eq!(show(&db, "1")["status"], "cancelled");
}

#[test]
fn escape_sequences_in_data_never_reach_the_terminal_raw() {
    let tmp = tempfile::tempdir().unwrap();
    let pred = tmp.path().join("pred.jsonl");
    let evil = "evil\u{1b}]0;pwned\u{7}\u{1b}[31m\u{202e}set";
    let line = serde_json::json!({
        "Task": "NER", "Dataset": evil,
        "Instance": {"id": "0", "sentence": "Ann", "label": " person: Ann",
                     "instruction": "x", "ground_truth": " person: Ann"},
        "Prediction": "person: Ann\r\u{1b}[2J",
    });
    std::fs::write(&pred, format!("{line}\n")).unwrap();
    for format in ["table", "md"] {
        let out = ok(common::ie_bench()
            .args(["eval", "--errors", "--format", format])
            .arg(&pred)
            .output()
            .unwrap());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            !text.contains(['\u{1b}', '\u{7}', '\r', '\u{202e}']),
            "{format}: {text:?}"
        );
        assert!(
            text.contains("evil␛]0;pwned␇␛[31m\\u{202e}set"),
            "{format}: {text}"
        );
    }
    // Machine-readable output keeps the name exactly (JSON escapes it).
    let out = ok(common::ie_bench()
        .args(["eval", "--format", "json"])
        .arg(&pred)
        .output()
        .unwrap());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["tasks"]["NER"]["datasets"][evil].is_object(), "{v}");
}

#[test]
fn absurd_inputs_fail_before_allocating() {
    let tmp = tempfile::tempdir().unwrap();
    // A predictions line longer than the cap is refused by number.
    let pred = tmp.path().join("long.jsonl");
    let mut f = std::fs::File::create(&pred).unwrap();
    let first = std::fs::read_to_string(sample_predictions()).unwrap();
    f.write_all(first.lines().next().unwrap().as_bytes())
        .unwrap();
    f.write_all(b"\n{\"Task\": \"NER\", \"Prediction\": \"")
        .unwrap();
    f.write_all(&vec![b'x'; 17 << 20]).unwrap();
    f.write_all(b"\"}\n").unwrap();
    drop(f);
    let out = common::ie_bench().arg("eval").arg(&pred).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("line 2") && stderr.contains("longer than 16 MiB"),
        "{stderr}"
    );
    // A model config with ten billion layers is refused before anything is allocated.
    let model = tmp.path().join("m");
    tiny_model(&model);
    let config = model.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    cfg["num_layers"] = serde_json::json!(10_000_000_000u64);
    std::fs::write(&config, cfg.to_string()).unwrap();
    let out = bin(&tmp.path().join("db"))
        .args(["run", "eval", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("num_layers is 10000000000, above the limit"),
        "{stderr}"
    );
}
