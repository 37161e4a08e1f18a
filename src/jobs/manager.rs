//! The job manager: one compute thread owns the device and runs one job at a time from a
//! queue. Jobs report through a [`Recorder`] (stored first, then told), and the manager
//! forwards every event on a channel, so a front end (the CLI's progress lines, the TUI) only
//! listens.

use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::{CancelToken, JobError, JobEvent, Recorder, Result};
use crate::store::{RunId, RunStatus, Store};

/// A job's work, run on the compute thread.
pub type Work = Box<dyn FnOnce(&CancelToken, &mut Recorder) -> Result<()> + Send>;

pub struct JobManager {
    // Behind locks so a manager shared with the socket's request handler can still be closed.
    queue: Mutex<Option<Sender<(RunId, Work)>>>,
    cancels: Arc<Mutex<HashMap<RunId, CancelToken>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Re-scorings, on a thread beside the compute thread: they need no model, and a gold
    /// correction's scores should not wait for a training run to end.
    rescores: Mutex<Option<Sender<(RunId, Work)>>>,
    rescore_thread: Mutex<Option<JoinHandle<()>>>,
}

impl JobManager {
    /// Starts the compute thread; events of every job arrive on the returned receiver.
    pub fn start(store: Arc<Store>) -> (JobManager, Receiver<JobEvent>) {
        let (queue, jobs) = channel::<(RunId, Work)>();
        let (events, listen) = channel::<JobEvent>();
        let (rescores, rescore_jobs) = channel::<(RunId, Work)>();
        let rescore_thread = {
            let (store, events) = (Arc::clone(&store), events.clone());
            std::thread::Builder::new()
                .name("rescore".to_string())
                .spawn(move || {
                    for (run, work) in rescore_jobs {
                        let mut tell = |e: &JobEvent| {
                            let _ = events.send(e.clone());
                        };
                        let mut rec = Recorder {
                            store: &store,
                            run,
                            listener: &mut tell,
                        };
                        if let Err(e) = run_caught(work, &CancelToken::default(), &mut rec) {
                            // Stored as the run's re-scoring error where the store allows;
                            // told either way.
                            let error = e.to_string();
                            if rec.rescored(Err(error.clone())).is_err() {
                                tell(&JobEvent::Rescored {
                                    run,
                                    outcome: Err(error),
                                });
                            }
                        }
                    }
                })
                .expect("spawning the rescore thread")
        };
        let cancels: Arc<Mutex<HashMap<RunId, CancelToken>>> = Arc::default();
        let thread = {
            let cancels = Arc::clone(&cancels);
            std::thread::Builder::new()
                .name("compute".to_string())
                .spawn(move || {
                    for (run, work) in jobs {
                        let token = cancels
                            .lock()
                            .expect("cancel map")
                            .get(&run)
                            .cloned()
                            .unwrap_or_default();
                        let mut tell = |e: &JobEvent| {
                            // A run whose end is told is no longer pending: a front end that
                            // hears it may quit without being asked to cancel it, although
                            // the job may still be freeing its memory.
                            if e.is_end() {
                                cancels.lock().expect("cancel map").remove(&run);
                            }
                            let _ = events.send(e.clone());
                        };
                        let mut rec = Recorder {
                            store: &store,
                            run,
                            listener: &mut tell,
                        };
                        let outcome = if token.is_cancelled() {
                            // Cancelled while it waited in the queue.
                            rec.finish(RunStatus::Cancelled, None)
                        } else {
                            run_caught(work, &token, &mut rec)
                        };
                        if let Err(e) = outcome {
                            // The job recorded its failure where it could; make sure it shows.
                            let message = e.to_string();
                            if store.run(run).is_ok_and(|m| !m.status.is_over()) {
                                let _ = rec.finish(e.status(), Some(message.clone()));
                            } else {
                                tell(&JobEvent::Failed {
                                    run,
                                    error: message,
                                });
                            }
                        }
                        cancels.lock().expect("cancel map").remove(&run);
                    }
                })
                .expect("spawning the compute thread")
        };
        (
            JobManager {
                queue: Mutex::new(Some(queue)),
                cancels,
                thread: Mutex::new(Some(thread)),
                rescores: Mutex::new(Some(rescores)),
                rescore_thread: Mutex::new(Some(rescore_thread)),
            },
            listen,
        )
    }

    /// Queues `work` for run `run` (already stored, as queued).
    pub fn submit(&self, run: RunId, work: Work) {
        self.cancels
            .lock()
            .expect("cancel map")
            .insert(run, CancelToken::default());
        if let Some(q) = &*self.queue.lock().expect("queue") {
            let _ = q.send((run, work));
        }
    }

    /// Queues a re-scoring of stored run `run` on the rescore thread. The run's status is not
    /// the job's to change: `work` reports through [`Recorder::rescored`], and a failure is
    /// recorded there for it.
    pub fn rescore(&self, run: RunId, work: Work) {
        if let Some(q) = &*self.rescores.lock().expect("rescore queue") {
            let _ = q.send((run, work));
        }
    }

    /// Asks a queued or running job to stop; false when this manager does not have it.
    pub fn cancel(&self, run: RunId) -> bool {
        match self.cancels.lock().expect("cancel map").get(&run) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Asks every queued and running job to stop.
    pub fn cancel_all(&self) {
        for token in self.cancels.lock().expect("cancel map").values() {
            token.cancel();
        }
    }

    /// Whether this manager has run `run` queued or running.
    pub fn has(&self, run: RunId) -> bool {
        self.cancels.lock().expect("cancel map").contains_key(&run)
    }

    /// Jobs queued or running.
    pub fn pending(&self) -> usize {
        self.cancels.lock().expect("cancel map").len()
    }

    /// Runs what is queued to the end, then stops the compute thread; later submissions are
    /// dropped.
    pub fn close(&self) {
        self.queue.lock().expect("queue").take();
        self.rescores.lock().expect("rescore queue").take();
        let threads = [
            self.thread.lock().expect("thread").take(),
            self.rescore_thread.lock().expect("thread").take(),
        ];
        for t in threads.into_iter().flatten() {
            let _ = t.join();
        }
    }

    pub fn finish(self) {
        self.close();
    }
}

/// Runs a job's work. A panicking job must not take its thread with it: the queue behind it,
/// and every front end waiting on it, would hang; the panic becomes the job's error.
fn run_caught(work: Work, token: &CancelToken, rec: &mut Recorder) -> Result<()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if injected_panic() {
            panic!("injected fault (IE_BENCH_FAULT=job-panic)");
        }
        work(token, rec)
    }))
    .unwrap_or_else(|payload| {
        Err(JobError::Other(format!(
            "the job panicked: {}",
            panic_message(payload.as_ref())
        )))
    })
}

/// A testing hook: with `IE_BENCH_FAULT=job-panic` every job panics where its work would
/// start, so a test can check that a panicking job leaves the process (and the TUI) usable.
fn injected_panic() -> bool {
    std::env::var_os("IE_BENCH_FAULT").is_some_and(|v| v == "job-panic")
}

/// The text a panic was raised with.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(std::string::ToString::to_string)
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

impl Drop for JobManager {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RunKind, RunManifest};

    #[test]
    fn a_panicking_job_fails_its_run_and_the_next_job_still_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&tmp.path().join("db")).unwrap());
        let new_run = || {
            store
                .create_run(&RunManifest::new(RunKind::Eval, 0))
                .unwrap()
        };
        let (first, second) = (new_run(), new_run());
        let (manager, events) = JobManager::start(Arc::clone(&store));
        manager.submit(first, Box::new(|_, _| panic!("header length overflowed")));
        manager.submit(
            second,
            Box::new(|_, rec| rec.finish(RunStatus::Finished, None)),
        );
        manager.close();
        let failed = store.run(first).unwrap();
        assert_eq!(failed.status, RunStatus::Failed);
        assert_eq!(
            failed.error.as_deref(),
            Some("the job panicked: header length overflowed")
        );
        assert_eq!(store.run(second).unwrap().status, RunStatus::Finished);
        let told: Vec<JobEvent> = events.try_iter().collect();
        assert!(told.contains(&JobEvent::Failed {
            run: first,
            error: "the job panicked: header length overflowed".to_string()
        }));
    }

    #[test]
    fn a_run_is_no_longer_pending_once_its_end_is_told() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&tmp.path().join("db")).unwrap());
        let run = store
            .create_run(&RunManifest::new(RunKind::Eval, 0))
            .unwrap();
        let (manager, events) = JobManager::start(Arc::clone(&store));
        manager.submit(
            run,
            Box::new(|_, rec| {
                rec.finish(RunStatus::Finished, None)?;
                // A job's last moments after its end (freeing a model) must not count.
                std::thread::sleep(std::time::Duration::from_millis(500));
                Ok(())
            }),
        );
        loop {
            let e = events
                .recv_timeout(std::time::Duration::from_secs(30))
                .unwrap();
            if e == (JobEvent::Finished { run }) {
                break;
            }
        }
        assert_eq!(manager.pending(), 0);
        manager.close();
    }

    /// A re-scoring that fails leaves its reason on the run (for the run list) and tells it;
    /// the run's status and pending count are untouched, and one that succeeds clears it.
    #[test]
    fn a_failed_rescore_is_stored_on_the_run_and_told() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&tmp.path().join("db")).unwrap());
        let run = store
            .create_run(&RunManifest {
                status: RunStatus::Finished,
                ..RunManifest::new(RunKind::Eval, 0)
            })
            .unwrap();
        let (manager, events) = JobManager::start(Arc::clone(&store));
        manager.rescore(
            run,
            Box::new(|_, _| Err(JobError::Other("no predictions".into()))),
        );
        assert_eq!(manager.pending(), 0, "a re-scoring is not a pending run");
        let told = events
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap();
        assert_eq!(
            told,
            JobEvent::Rescored {
                run,
                outcome: Err("no predictions".into())
            }
        );
        let m = store.run(run).unwrap();
        assert_eq!(m.rescore_error.as_deref(), Some("no predictions"));
        assert_eq!(m.status, RunStatus::Finished);
        let fine = crate::jobs::Rescored {
            gold_version: 1,
            changed: 0,
            predictions: 0,
        };
        manager.rescore(run, Box::new(move |_, rec| rec.rescored(Ok(fine))));
        manager.close();
        assert_eq!(store.run(run).unwrap().rescore_error, None);
    }
}
