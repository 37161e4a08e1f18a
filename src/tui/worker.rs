//! Work slower than a frame (loading and judging a run's predictions, re-scoring it), done on a
//! worker thread. Only the newest request's answer is kept: one that an older request left
//! behind is dropped when it arrives. Each answer wakes the event loop, and errors come back as
//! text for the status line.

use std::sync::mpsc::{channel, Receiver, Sender};

type Answer<T> = (u64, Result<T, String>);

pub struct Latest<T> {
    generation: u64,
    busy: bool,
    tx: Sender<Answer<T>>,
    rx: Receiver<Answer<T>>,
}

impl<T> Default for Latest<T> {
    fn default() -> Self {
        let (tx, rx) = channel();
        Latest {
            generation: 0,
            busy: false,
            tx,
            rx,
        }
    }
}

impl<T: Send + 'static> Latest<T> {
    /// Starts `work` on a thread of its own; an answer still due from an earlier request will
    /// be dropped.
    pub fn start(&mut self, work: impl FnOnce() -> Result<T, String> + Send + 'static) {
        self.generation += 1;
        self.busy = true;
        let (generation, tx) = (self.generation, self.tx.clone());
        std::thread::spawn(move || {
            let _ = tx.send((generation, work()));
            super::wake::wake();
        });
    }

    /// Whether the newest request has not answered yet.
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// The newest request's answer, once it has arrived.
    pub fn take(&mut self) -> Option<Result<T, String>> {
        while let Ok((generation, answer)) = self.rx.try_recv() {
            if generation == self.generation {
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
        l.start(move || {
            // Finishes after the second request has answered.
            let _ = slow_rx.recv();
            Ok(1)
        });
        l.start(|| Ok(2));
        assert!(l.busy());
        assert_eq!(wait(&mut l), Ok(2));
        slow_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(l.take(), None, "the older answer is dropped");
        assert!(!l.busy());
        l.start(|| Err::<i32, _>("no such run".to_string()));
        assert_eq!(wait(&mut l), Err("no such run".to_string()));
    }
}
