//! The real binary in a pseudo-terminal: a fresh database on the sample data, a tiny training
//! run launched from the UI, the F1 table awaited on screen, a Markdown export, quit; then the
//! file is checked and the terminal must be back in cooked mode on the main screen. A second
//! test ends the TUI with SIGTERM and checks the same restoration.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Pty {
    master: std::fs::File,
    slave: OwnedFd,
    screen: Arc<Mutex<vt100::Parser>>,
    raw: Arc<Mutex<Vec<u8>>>,
}

const ROWS: u16 = 40;
const COLS: u16 = 140;

fn open_pty() -> Pty {
    open_pty_reading(true)
}

/// A pseudo-terminal; with `read`, a thread feeds what the program writes to a screen parser.
fn open_pty_reading(read: bool) -> Pty {
    let (mut m, mut s) = (0, 0);
    let ws = libc::winsize {
        ws_row: ROWS,
        ws_col: COLS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors it opened; the window size is a valid struct.
    let rc = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // Neither end leaks into the child: it gets the slave as its stdio only, so closing
    // `master` here hangs the terminal up.
    for fd in [m, s] {
        // SAFETY: setting a flag on descriptors openpty just returned.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // SAFETY: openpty returned these two descriptors to us alone; each gets one owner.
    let master = unsafe { std::fs::File::from_raw_fd(m) };
    // SAFETY: as above.
    let slave = unsafe { OwnedFd::from_raw_fd(s) };
    let screen = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
    let raw = Arc::new(Mutex::new(Vec::new()));
    if read {
        let mut reader = master.try_clone().unwrap();
        let (screen, raw) = (Arc::clone(&screen), Arc::clone(&raw));
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                screen.lock().unwrap().process(&buf[..n]);
                raw.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
    }
    Pty {
        master,
        slave,
        screen,
        raw,
    }
}

impl Pty {
    fn spawn(&self, cmd: &mut Command) -> Child {
        use std::os::unix::process::CommandExt;
        let fd = self.slave.as_raw_fd();
        let io = || Stdio::from(self.slave.try_clone().unwrap());
        // SAFETY: between fork and exec only async-signal-safe calls (setsid, ioctl).
        unsafe {
            cmd.pre_exec(move || {
                // A session of its own with the pty as its controlling terminal, as a shell does.
                if libc::setsid() < 0 || libc::ioctl(fd, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        // The workbench's defaults here are the tiny T5's: a pretrained backbone installed on
        // the machine (`model fetch`) would otherwise be offered first. A test that wants one
        // names its models directory itself.
        if !cmd.get_envs().any(|(k, _)| k == "IE_BENCH_MODELS") {
            cmd.env("IE_BENCH_MODELS", "/nonexistent/ie-bench-models");
        }
        cmd.env("TERM", "xterm-256color")
            .stdin(io())
            .stdout(io())
            .stderr(io())
            .spawn()
            .unwrap()
    }

    fn send(&mut self, s: &str) {
        self.master.write_all(s.as_bytes()).unwrap();
        self.master.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }

    fn contents(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    fn wait_for(&self, text: &str, secs: u64) {
        let start = Instant::now();
        while !self.contents().contains(text) {
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {text:?}; screen:\n{}",
                self.contents()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The terminal as the shell gets it back: cooked mode with echo, main screen, cursor
    /// shown, mouse reporting off.
    fn assert_restored(&self) {
        // SAFETY: termios is a plain C struct; all zeroes is a valid value.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(
            // SAFETY: tcgetattr fills the struct for a valid terminal descriptor.
            unsafe { libc::tcgetattr(self.slave.as_raw_fd(), &mut t) },
            0
        );
        assert!(t.c_lflag & libc::ICANON != 0, "canonical mode restored");
        assert!(t.c_lflag & libc::ECHO != 0, "echo restored");
        let raw = self.raw.lock().unwrap();
        let text = String::from_utf8_lossy(&raw);
        let entered = text
            .rfind("\x1b[?1049h")
            .expect("entered the alternate screen");
        let left = text
            .rfind("\x1b[?1049l")
            .expect("left the alternate screen");
        assert!(left > entered);
        assert!(
            text[left..].contains("\x1b[?25h") || text[..left].rfind("\x1b[?25h").is_some(),
            "cursor shown"
        );
        assert!(
            text.rfind("\x1b[?1000l").is_some_and(|off| off > entered),
            "mouse capture off"
        );
        assert!(!self.screen.lock().unwrap().screen().alternate_screen());
    }
}

/// `ie-bench` on a fresh database in `dir` (its working directory, with a config directory of
/// its own), in a new pseudo-terminal.
fn start(dir: &std::path::Path) -> (Pty, Child) {
    let pty = open_pty();
    let mut cmd = common::ie_bench();
    cmd.arg("--db")
        .arg(dir.join("db"))
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("config"));
    let child = pty.spawn(&mut cmd);
    (pty, child)
}

fn wait_exit(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("the TUI did not exit within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn launch_a_run_from_the_tui_export_markdown_and_quit() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let (mut pty, mut child) = start(tmp.path());
    // A fresh database opens on the launch form: launch with the defaults (a tiny model, 40
    // steps).
    pty.wait_for("A fresh database: enter trains", 60);
    pty.wait_for("New run", 10);
    pty.send("\r");
    pty.wait_for("F1 · test at step 40", 300);
    assert!(pty.contents().contains("Tiny CoNLL"), "{}", pty.contents());
    // Export: write the selected run's table as Markdown to the default file.
    pty.send("6");
    pty.wait_for("Preview · Markdown", 10);
    pty.send("w");
    pty.wait_for("write to:", 10);
    pty.send("\r");
    pty.wait_for("written:", 10);
    pty.send("q");
    let status = wait_exit(&mut child, 30);
    assert!(status.success(), "exit status {status}");
    let md = std::fs::read_to_string(tmp.path().join("ie-bench-results.md")).unwrap();
    assert!(md.contains("| Dataset | run 1 |"), "{md}");
    assert!(md.contains("| Tiny CoNLL |"), "{md}");
    pty.assert_restored();
    // What the session did is in the database for the CLI too.
    let runs = common::json(
        common::with_db(&db)
            .args(["runs", "--format", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(runs[0]["status"], "finished", "{runs}");
    let log = std::fs::read_to_string(db.join("tui.log")).unwrap();
    assert!(log.contains("ie-bench TUI started"), "{log}");
}

/// A job that panics on the TUI's compute thread (an injected fault) fails its run; the panic
/// goes to the log, not over the screen, and the workbench stays usable and quits cleanly.
#[test]
fn a_panicking_job_fails_its_run_and_the_tui_stays_usable() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let pty = open_pty();
    let mut cmd = common::ie_bench();
    cmd.arg("--db")
        .arg(&db)
        .current_dir(tmp.path())
        .env("XDG_CONFIG_HOME", tmp.path().join("config"))
        .env("IE_BENCH_FAULT", "job-panic");
    let mut child = pty.spawn(&mut cmd);
    let mut pty = pty;
    pty.wait_for("A fresh database", 60);
    // Another shell queues a run in the TUI, which holds the database.
    let queued = common::ok(
        common::with_db(&db)
            .args(["run", "ingest"])
            .arg(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("sample-data/predictions/supervised-test.jsonl"),
            )
            .output()
            .unwrap(),
    );
    assert_eq!(String::from_utf8_lossy(&queued.stdout).trim(), "1");
    pty.send("\x1b");
    pty.send("3");
    pty.wait_for("failed", 60);
    assert!(
        !pty.contents().contains("panicked at"),
        "the panic reached the screen:\n{}",
        pty.contents()
    );
    pty.send("q");
    let status = wait_exit(&mut child, 30);
    assert!(status.success(), "exit status {status}");
    pty.assert_restored();
    let run = common::show(&db, "1");
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("injected fault"),
        "{run}"
    );
    let log = std::fs::read_to_string(db.join("tui.log")).unwrap();
    assert!(log.contains("injected fault"), "{log}");
}

#[test]
fn sigterm_ends_the_tui_and_restores_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let (pty, mut child) = start(tmp.path());
    pty.wait_for("A fresh database", 60);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_exit(&mut child, 30);
    assert!(status.success(), "exit status {status}");
    pty.assert_restored();
}

#[test]
fn the_restoration_check_catches_a_terminal_left_raw() {
    // SIGKILL gives the TUI no chance to clean up: the check above must then fail, or it
    // proves nothing.
    let tmp = tempfile::tempdir().unwrap();
    let (pty, mut child) = start(tmp.path());
    pty.wait_for("A fresh database", 60);
    child.kill().unwrap();
    wait_exit(&mut child, 30);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pty.assert_restored()));
    assert!(
        caught.is_err(),
        "a killed TUI leaves raw mode behind, and the check must see it"
    );
}

/// Run by the test below in a pseudo-terminal (this test binary again, with
/// `IE_BENCH_PANIC_CHILD` naming the guard's log file, in the parent's temporary directory):
/// takes the terminal with the workbench's own guard, draws, and panics. Without the variable
/// it does nothing.
#[test]
fn panicking_child() {
    let Some(log) = std::env::var_os("IE_BENCH_PANIC_CHILD") else {
        return;
    };
    let log = std::path::PathBuf::from(log);
    let _guard = ie_bench::tui::terminal::TerminalGuard::enter(&log).unwrap();
    let backend = ratatui::backend::CrosstermBackend::new(std::io::stdout());
    let mut term = ratatui::Terminal::new(backend).unwrap();
    term.draw(|f| f.render_widget(ratatui::widgets::Paragraph::new("about to panic"), f.area()))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    panic!("a deliberate panic inside the TUI");
}

#[test]
fn a_panic_inside_the_tui_restores_the_terminal_and_reports_it() {
    let pty = open_pty();
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "panicking_child",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env("IE_BENCH_PANIC_CHILD", tmp.path().join("tui.log"));
    let mut child = pty.spawn(&mut cmd);
    let status = wait_exit(&mut child, 60);
    assert!(!status.success(), "the child test panicked");
    pty.assert_restored();
    // The panic message reaches the real terminal after the hook's restore (the guard's drop
    // restores once more while unwinding), not the log.
    let raw = pty.raw.lock().unwrap();
    let text = String::from_utf8_lossy(&raw);
    let left = text.find("\x1b[?1049l").unwrap();
    assert!(
        text[left..].contains("a deliberate panic inside the TUI"),
        "{text:?}"
    );
}

#[test]
fn the_workbench_names_the_process_that_holds_its_database() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let release = tmp.path().join("release");
    let holder = common::holder(&db, &release);
    let out = common::with_db(&db).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("is held by process"), "{err}");
    assert!(err.contains("the TUI needs it to itself"), "{err}");
    common::end_holder(holder, &release);
}

#[test]
fn closing_the_terminal_ends_the_tui() {
    // A terminal window closed under the TUI: the pty master goes away. crossterm alone would
    // spin on the dead tty (crossterm-rs/crossterm#793); the TUI must exit.
    let tmp = tempfile::tempdir().unwrap();
    // No reader thread, so that dropping `master` closes the last master descriptor.
    let pty = open_pty_reading(false);
    let mut cmd = common::ie_bench();
    cmd.arg("--db")
        .arg(tmp.path().join("db"))
        .current_dir(tmp.path())
        .env("XDG_CONFIG_HOME", tmp.path().join("config"));
    let mut child = pty.spawn(&mut cmd);
    let start = Instant::now();
    while !tmp.path().join("db").join("tui.log").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the TUI never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let Pty { master, slave, .. } = pty;
    drop(master);
    drop(slave);
    let status = wait_exit(&mut child, 20);
    assert!(status.success(), "exit status {status}");
}

/// The workbench on each real copy of IE INSTRUCTIONS, as a new user meets it: the first
/// screen within 2 s on a fresh database, the launch form's defaults start a run that makes
/// the default model, trains, evaluates capped dev and test splits and fills the F1 table;
/// Inspect shows a real sentence with a gold span highlighted.
#[test]
fn the_workbench_runs_its_defaults_on_the_real_benchmark() {
    let Some(shared) = std::env::var_os("IE_BENCH_SHARED") else {
        eprintln!("SKIPPED the_workbench_runs_its_defaults_on_the_real_benchmark: set IE_BENCH_SHARED to the shared directory to run it");
        return;
    };
    let data = std::path::Path::new(&shared).join("data");
    for root in [
        data.join("IE_INSTRUCTIONS"),
        data.join("primary/IE_INSTRUCTIONS"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let mut pty = open_pty();
        let mut cmd = common::ie_bench();
        cmd.arg("--db")
            .arg(tmp.path().join("db"))
            .arg("--data")
            .arg(&root)
            .current_dir(tmp.path())
            .env("XDG_CONFIG_HOME", tmp.path().join("config"));
        let started = Instant::now();
        let mut child = pty.spawn(&mut cmd);
        pty.wait_for("A fresh database", 60);
        let first = started.elapsed();
        eprintln!("{}: first screen after {first:?}", root.display());
        assert!(
            first < Duration::from_secs(2),
            "{}: the first screen took {first:?}",
            root.display()
        );
        // Which datasets the default config finds, from a base or not at all, is shown
        // before launch.
        pty.wait_for("from a base: ", 10);
        pty.wait_for("conll04_sample_5000 → conll04", 10);
        pty.wait_for("missing (skipped with a note", 10);
        pty.send("\r");
        pty.wait_for("F1 · test at step 40", 900);
        // The test table is stored before the run's last writes: quitting earlier would ask
        // to cancel it first.
        pty.wait_for("run 1 finished", 120);
        // Inspect on the run: its examples with their sentences.
        pty.send("\r");
        pty.wait_for("item n; gold bold", 120);
        for _ in 0..12 {
            if pty.contents().contains("kind missing") {
                break;
            }
            pty.send("f");
        }
        assert!(
            pty.contents().contains("kind missing"),
            "{}",
            pty.contents()
        );
        {
            let parser = pty.screen.lock().unwrap();
            let screen = parser.screen();
            let rows: Vec<String> = screen.rows(0, COLS).collect();
            let title = rows
                .iter()
                .position(|r| r.contains("item n; gold bold"))
                .expect("the sentence pane");
            // The pane's rows, down to its bottom border (a long sentence scrolls its first
            // span into the middle of them), and its columns.
            let row: Vec<char> = rows[title].chars().collect();
            let left = (COLS as usize / 3..row.len())
                .find(|&c| row[c] == '┌')
                .expect("the sentence pane's corner");
            let bottom = (title + 1..rows.len())
                .find(|&r| rows[r].chars().nth(left) == Some('└'))
                .expect("the sentence pane's bottom");
            let highlighted = (title + 1..bottom).any(|r| {
                (left as u16 + 1..COLS - 1).any(|c| {
                    screen
                        .cell(r as u16, c)
                        .is_some_and(|cell| cell.bold() && !cell.contents().trim().is_empty())
                })
            });
            assert!(
                highlighted,
                "a missing gold span is bold in the sentence:\n{}",
                rows.join("\n")
            );
        }
        pty.send("q");
        let status = wait_exit(&mut child, 60);
        assert!(status.success(), "exit status {status}");
        pty.assert_restored();
    }
}

/// The first run with Gemma 3 270M installed (`IE_BENCH_GEMMA` names its .gguf inside a
/// models directory, as `ie-bench model fetch` places it): the launch form starts on it, a
/// short fine-tune on CoNLL 2003 (the real release copy when `IE_BENCH_SHARED` is set, else
/// the sample's Tiny CoNLL) runs from one key, and the F1 table shows a test F1 above zero.
#[test]
fn the_first_run_fine_tunes_gemma_when_it_is_installed() {
    let Some(gguf) = std::env::var_os("IE_BENCH_GEMMA") else {
        eprintln!("SKIPPED the_first_run_fine_tunes_gemma_when_it_is_installed: set IE_BENCH_GEMMA to the fetched gemma-3-270m .gguf to run it");
        return;
    };
    let models = std::path::Path::new(&gguf)
        .parent()
        .and_then(|p| p.parent())
        .expect("the .gguf lies in MODELS/gemma-3-270m/")
        .to_path_buf();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let mut pty = open_pty();
    let mut cmd = common::ie_bench();
    cmd.arg("--db")
        .arg(&db)
        .current_dir(tmp.path())
        .env("XDG_CONFIG_HOME", tmp.path().join("config"))
        .env("IE_BENCH_MODELS", &models);
    let (dataset, data) = match std::env::var_os("IE_BENCH_SHARED") {
        Some(shared) => (
            "CoNLL 2003",
            Some(std::path::Path::new(&shared).join("data/IE_INSTRUCTIONS")),
        ),
        None => ("Tiny CoNLL", None),
    };
    if let Some(d) = &data {
        cmd.arg("--data").arg(d);
    }
    let mut child = pty.spawn(&mut cmd);
    pty.wait_for("A fresh database: enter fine-tunes gemma-3-270m", 60);
    pty.wait_for("constrained to options", 10);
    pty.send("\r");
    pty.wait_for("F1 · test at step 60", 1500);
    pty.wait_for("run 1 finished", 120);
    assert!(pty.contents().contains(dataset), "{}", pty.contents());
    pty.send("q");
    let status = wait_exit(&mut child, 30);
    assert!(status.success(), "exit status {status}");
    pty.assert_restored();
    let show = common::show(&db, "1");
    let f1 = show["scores"]["tasks"]["NER"]["datasets"][dataset]["score"]
        .as_f64()
        .unwrap_or_else(|| panic!("no {dataset} score: {show}"));
    eprintln!(
        "gemma first run: {dataset} test F1 {f1:.4} ({})",
        show["scores"]["tasks"]["NER"]["datasets"][dataset]
    );
    assert!(f1 > 0.0, "{show}");
}
