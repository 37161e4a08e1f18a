//! Threads that stay awake between the small products of a decoding step. A step at batch one
//! is some hundred products of a few tens of microseconds each, with a little sequential work
//! (norms, attention) between them; rayon's idle threads fall asleep in those gaps, and
//! waking one costs about as long as its half of the next product, so the products ran at
//! half speed (the query/key/value product of a Gemma layer took 106 µs inside a step against
//! 43 µs with both cores). A team's helpers spin for a short while after each product and
//! park only when no product follows.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, TryLockError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long a helper spins for the next product before parking.
const SPIN: Duration = Duration::from_micros(300);

/// One product shared out: part `i` of `parts` runs on thread `i % threads`.
struct Job<'a> {
    parts: usize,
    run: &'a (dyn Fn(usize) + Sync),
}

struct Shared {
    /// Bumped once per job; a helper works when it sees a value it has not seen.
    epoch: AtomicU64,
    /// The current job, valid from the epoch's bump until every helper has reported.
    job: AtomicPtr<Job<'static>>,
    /// Helpers done with the current epoch.
    finished: AtomicUsize,
    /// A part of the current job panicked on a helper.
    panicked: AtomicBool,
    /// Per helper: parked (or about to), so a new job must unpark it.
    parked: Vec<AtomicBool>,
}

/// The calling thread plus `helpers` threads that split products part by part.
pub struct Team {
    shared: Arc<Shared>,
    helpers: Vec<Thread>,
    /// One caller at a time; a second caller meanwhile gets `None` from `run`.
    busy: Mutex<()>,
}

impl Team {
    /// A team of `threads` threads in all (the caller and `threads - 1` helpers).
    fn new(threads: usize) -> Team {
        let helpers = threads.saturating_sub(1);
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            finished: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            parked: (0..helpers).map(|_| AtomicBool::new(false)).collect(),
        });
        let helpers = (0..helpers)
            .filter_map(|h| {
                let shared = Arc::clone(&shared);
                thread::Builder::new()
                    .name(format!("ie-bench-team-{}", h + 1))
                    .spawn(move || help(&shared, h, helpers + 1))
                    .ok()
                    .map(|handle| handle.thread().clone())
            })
            .collect::<Vec<_>>();
        Team {
            shared,
            helpers,
            busy: Mutex::new(()),
        }
    }

    /// The process's team, as many threads as rayon's pool.
    pub fn global() -> &'static Team {
        static TEAM: OnceLock<Team> = OnceLock::new();
        TEAM.get_or_init(|| Team::new(rayon::current_num_threads()))
    }

    /// How many threads share a job.
    pub fn threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Runs `run(i)` for every `i < parts`, part `i` on thread `i % threads()`, and returns
    /// when all have run; `None` (nothing run) when another thread is using the team or a
    /// helper failed to start. A part that panics, on any thread, panics here once every
    /// thread is done with the job.
    pub fn run(&self, parts: usize, run: &(dyn Fn(usize) + Sync)) -> Option<()> {
        let threads = self.threads();
        if self.helpers.len() != self.shared.parked.len() {
            return None;
        }
        // A job that panicked poisons the lock; every job sets the shared state afresh, so
        // the team is as good as before.
        let _only = match self.busy.try_lock() {
            Ok(only) => only,
            Err(TryLockError::Poisoned(only)) => only.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        let job = Job { parts, run };
        let s = &self.shared;
        s.finished.store(0, Ordering::Relaxed);
        s.panicked.store(false, Ordering::Relaxed);
        // SAFETY (lifetime): helpers use the job only until they bump `finished`, and this
        // function waits below until every helper has, so the job outlives every use.
        s.job
            .store(&job as *const Job as *mut Job<'static>, Ordering::Relaxed);
        s.epoch.fetch_add(1, Ordering::SeqCst);
        for (h, t) in self.helpers.iter().enumerate() {
            if s.parked[h].load(Ordering::SeqCst) {
                t.unpark();
            }
        }
        // The job lives on this stack: even if a part panics, wait for the helpers first.
        let mine = panic::catch_unwind(AssertUnwindSafe(|| {
            for i in (0..parts).step_by(threads) {
                run(i);
            }
        }));
        let mut spins = 0u32;
        while s.finished.load(Ordering::Acquire) < self.helpers.len() {
            // A helper that lost its core (a busy machine) needs this one: spin briefly, then
            // give the core away between looks.
            spins = spins.saturating_add(1);
            if spins < 1 << 12 {
                std::hint::spin_loop();
            } else {
                thread::yield_now();
            }
        }
        if let Err(payload) = mine {
            panic::resume_unwind(payload);
        }
        assert!(
            !s.panicked.load(Ordering::Acquire),
            "a part of a product panicked on a helper thread"
        );
        Some(())
    }
}

/// Helper `h`'s loop: wait for a new epoch (spinning, then parked), run its parts, report.
fn help(s: &Shared, h: usize, threads: usize) {
    let mut seen = 0;
    loop {
        let since = Instant::now();
        let mut spins = 0u32;
        loop {
            let epoch = s.epoch.load(Ordering::Acquire);
            if epoch != seen {
                seen = epoch;
                break;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(256) && since.elapsed() > SPIN {
                s.parked[h].store(true, Ordering::SeqCst);
                // A job published between the check above and this flag finds the flag
                // unset and does not unpark: look once more before parking.
                if s.epoch.load(Ordering::SeqCst) == seen {
                    thread::park();
                }
                s.parked[h].store(false, Ordering::SeqCst);
            } else {
                std::hint::spin_loop();
            }
        }
        // SAFETY: the epoch moved, so `job` points at the caller's live job until this
        // helper bumps `finished` (see `Team::run`).
        let job = unsafe { &*s.job.load(Ordering::Acquire) };
        let done = panic::catch_unwind(AssertUnwindSafe(|| {
            for i in (h + 1..job.parts).step_by(threads) {
                (job.run)(i);
            }
        }));
        if done.is_err() {
            s.panicked.store(true, Ordering::Relaxed);
        }
        s.finished.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once_whatever_the_pause_between_jobs() {
        let team = Team::new(3);
        for (round, pause) in [0u64, 1, 0, 2000, 0].into_iter().enumerate() {
            thread::sleep(Duration::from_micros(pause));
            let counts: Vec<AtomicUsize> = (0..10 + round).map(|_| AtomicUsize::new(0)).collect();
            team.run(counts.len(), &|i| {
                counts[i].fetch_add(1, Ordering::Relaxed);
            })
            .expect("the team is free");
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn a_panicking_part_panics_the_caller_and_leaves_the_team_usable() {
        let team = Team::new(2);
        for bad in [0, 1] {
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                team.run(2, &|i| assert_ne!(i, bad, "part {i} fails"))
            }));
            assert!(outcome.is_err(), "part {bad} on a panicking thread");
        }
        let ran = AtomicUsize::new(0);
        team.run(4, &|_| {
            ran.fetch_add(1, Ordering::Relaxed);
        })
        .expect("the team is free again");
        assert_eq!(ran.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_second_caller_is_turned_away_not_blocked() {
        let team = Team::new(2);
        team.run(2, &|i| {
            if i == 0 {
                assert!(team.run(1, &|_| {}).is_none());
            }
        })
        .expect("the team is free");
    }
}
