//! Reads slower than a frame (loading and judging a run's predictions, comparing two runs,
//! searching every sentence, measuring prompt lengths), done on a worker thread. Only the
//! newest request's answer is kept: one that an older request left behind is dropped when it
//! arrives, and the older work can see it is stale and stop early. Each answer wakes the event
//! loop, and errors come back as text for the status line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

type Answer<T> = (u64, Result<T, String>);

pub struct Latest<T> {
    generation: Arc<AtomicU64>,
    busy: bool,
    tx: Sender<Answer<T>>,
    rx: Receiver<Answer<T>>,
}

/// Handed to a request's work: whether a newer request has replaced it.
#[derive(Clone)]
pub struct Fresh {
    newest: Arc<AtomicU64>,
    mine: u64,
}

impl Fresh {
    pub fn is_stale(&self) -> bool {
        self.newest.load(Ordering::SeqCst) != self.mine
    }
}

impl<T> Default for Latest<T> {
    fn default() -> Self {
        let (tx, rx) = channel();
        Latest {
            generation: Arc::default(),
            busy: false,
            tx,
            rx,
        }
    }
}

impl<T: Send + 'static> Latest<T> {
    /// Starts `work` on a thread of its own; an answer still due from an earlier request will
    /// be dropped.
    pub fn start(&mut self, work: impl FnOnce(&Fresh) -> Result<T, String> + Send + 'static) {
        let fresh = self.forget();
        self.busy = true;
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            let answer = work(&fresh);
            if !fresh.is_stale() {
                let _ = tx.send((fresh.mine, answer));
                super::wake::wake();
            }
        });
    }

    /// Drops whatever is due from earlier requests (a cleared query, say).
    pub fn forget(&mut self) -> Fresh {
        self.busy = false;
        Fresh {
            mine: self.generation.fetch_add(1, Ordering::SeqCst) + 1,
            newest: Arc::clone(&self.generation),
        }
    }

    /// Whether the newest request has not answered yet.
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// The newest request's answer, once it has arrived.
    pub fn take(&mut self) -> Option<Result<T, String>> {
        while let Ok((generation, answer)) = self.rx.try_recv() {
            if generation == self.generation.load(Ordering::SeqCst) {
                self.busy = false;
                return Some(answer);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn wait<T: Send + 'static>(l: &mut Latest<T>) -> Result<T, String> {
        let start = Instant::now();
        loop {
            if let Some(a) = l.take() {
                return a;
            }
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_newest_request_wins_and_errors_come_back() {
        let mut l = Latest::default();
        let (slow_tx, slow_rx) = channel::<()>();
        l.start(move |_| {
            // Finishes after the second request has answered.
            let _ = slow_rx.recv();
            Ok(1)
        });
        l.start(|_| Ok(2));
        assert!(l.busy());
        assert_eq!(wait(&mut l), Ok(2));
        slow_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(l.take(), None, "the older answer is dropped");
        assert!(!l.busy());
        l.start(|_| Err::<i32, _>("no such run".to_string()));
        assert_eq!(wait(&mut l), Err("no such run".to_string()));
    }
}
