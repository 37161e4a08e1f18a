//! The terminal while the TUI runs: raw mode, the alternate screen and mouse capture on the
//! way in, and the same undone on every way out (return, error, panic, SIGTERM, SIGHUP). Logs
//! and stray prints go to a file, never to the screen.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};

/// Undoes everything `enter` did; safe to call more than once.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = std::io::stdout().flush();
}

/// Holds the terminal; dropping it restores the terminal.
pub struct TerminalGuard {
    /// Set by SIGTERM, SIGHUP or SIGINT: the event loop ends as if the user quit.
    pub stop: Arc<AtomicBool>,
    saved_stderr: Option<i32>,
}

impl TerminalGuard {
    /// Sends standard error to `log` (so library prints cannot garble the screen), installs the
    /// panic hook and signal flags, and takes the terminal.
    pub fn enter(log: &Path) -> std::io::Result<TerminalGuard> {
        let stop = Arc::new(AtomicBool::new(false));
        for sig in [
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
            signal_hook::consts::SIGINT,
        ] {
            signal_hook::flag::register(sig, Arc::clone(&stop))?;
        }
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        // SAFETY: dup/dup2 on valid descriptors; the saved copy is restored on drop.
        let saved = unsafe { libc::dup(2) };
        // SAFETY: `file` is open for this call; 2 is stderr, saved above.
        unsafe { libc::dup2(file.as_raw_fd(), 2) };
        let saved_stderr = (saved >= 0).then_some(saved);
        let previous = std::panic::take_hook();
        // Only a panic of the UI thread ends the TUI. Another thread's (a job's, caught by the
        // job manager and shown as a failed run) goes to the log, and the screen stays.
        let ui = std::thread::current().id();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() == ui {
                restore();
                put_back_stderr(saved_stderr);
            }
            previous(info);
        }));
        enable_raw_mode()?;
        execute!(std::io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
        Ok(TerminalGuard { stop, saved_stderr })
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

fn put_back_stderr(saved: Option<i32>) {
    if let Some(fd) = saved {
        // SAFETY: `fd` is the descriptor `dup` returned for the original stderr.
        unsafe { libc::dup2(fd, 2) };
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
        put_back_stderr(self.saved_stderr);
        if let Some(fd) = self.saved_stderr.take() {
            // SAFETY: closing our own duplicate.
            unsafe { libc::close(fd) };
        }
    }
}
