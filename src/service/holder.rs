//! The process that holds the database: its job manager (one compute thread), and the socket
//! on which other processes read and send [`Request`]s. `ie-bench run` and the workbench both
//! hold the database this way.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::runs;
use crate::jobs::manager::JobManager;
use crate::jobs::JobEvent;
use crate::service::socket::{serve, Control};
use crate::spec::RunSpec;
use crate::store::{RunId, Store};

/// What another process may ask the holder to do, beyond the reads the socket answers itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Store and queue a run; answered with its id.
    Submit { spec: Box<RunSpec> },
    /// Queue a stored run again, from its last checkpoint; answered with its id.
    Resume { id: RunId },
    /// Stop a queued or running run; answered with `cancelling` or `cancelled`.
    Cancel { id: RunId },
    /// `ie-bench gold WORDS...`, run on the holder's store; answered with what it said.
    Gold { words: Vec<String> },
    /// `ie-bench import WORDS...`, likewise.
    Import { words: Vec<String> },
    /// `ie-bench runs tag`: add and remove tags of a run; answered with what it said.
    Tag {
        id: RunId,
        add: Vec<String>,
        remove: Vec<String>,
    },
    /// `ie-bench runs note`: set or clear a run's note; likewise.
    Note { id: RunId, text: Option<String> },
}

pub struct Holder {
    pub store: Arc<Store>,
    pub manager: Arc<JobManager>,
    pub events: std::sync::mpsc::Receiver<JobEvent>,
    db: PathBuf,
    server: Option<crate::service::socket::Server>,
}

impl Holder {
    pub fn new(store: Store, db: &Path) -> Result<Holder> {
        let store = Arc::new(store);
        let (manager, events) = JobManager::start(Arc::clone(&store));
        let manager = Arc::new(manager);
        let control: Control = {
            let store = Arc::clone(&store);
            let manager = Arc::clone(&manager);
            let db = db.to_path_buf();
            Arc::new(move |req: &serde_json::Value| {
                let req: Request = serde_json::from_value(req.clone())
                    .map_err(|e| format!("unknown request {req}: {e}"))?;
                answer(&store, &manager, &db, req).map_err(|e| format!("{e:#}"))
            })
        };
        let server = serve(Arc::clone(&store), Some(control))?;
        Ok(Holder {
            store,
            manager,
            events,
            db: db.to_path_buf(),
            server: Some(server),
        })
    }

    /// Stores and queues a run.
    pub fn submit(&self, spec: RunSpec) -> Result<RunId> {
        runs::submit(&self.store, &self.manager, &self.db, spec)
    }

    /// Queues a stored run again, to continue from its last checkpoint.
    pub fn resume(&self, id: RunId) -> Result<()> {
        runs::resume(&self.store, &self.manager, id)
    }

    /// Cancels a queued or running run.
    pub fn cancel(&self, id: RunId) -> Result<()> {
        if !self.manager.cancel(id) {
            runs::cancel_stored(&self.store, id)?;
        }
        Ok(())
    }

    /// Queues a re-scoring of stored run `id` against the gold in force, beside the compute
    /// thread; its outcome arrives as a [`JobEvent::Rescored`] and stays in the manifest.
    pub fn rescore(&self, id: RunId) -> Result<()> {
        self.store.run(id)?;
        self.manager.rescore(
            id,
            Box::new(|_, rec| super::results::rescore_run(rec).map(|_| ())),
        );
        Ok(())
    }

    /// Queues run `id`, already stored.
    pub fn queue(&self, id: RunId, spec: RunSpec) -> Result<()> {
        runs::queue(&self.store, &self.manager, id, spec)
    }

    /// Stops answering other processes (requests already taken still run).
    pub fn close_socket(&mut self) {
        self.server.take();
    }

    /// Closes the socket, lets the compute thread finish what is queued, and waits for it.
    pub fn shut_down(&mut self) {
        self.close_socket();
        self.manager.close();
    }
}

/// Carries out another process's request on the holder's store and queue.
fn answer(
    store: &Store,
    manager: &JobManager,
    db: &Path,
    req: Request,
) -> Result<serde_json::Value> {
    Ok(match req {
        Request::Submit { spec } => runs::submit(store, manager, db, *spec)?.into(),
        Request::Resume { id } => {
            runs::resume(store, manager, id)?;
            id.into()
        }
        Request::Cancel { id } => {
            if manager.cancel(id) {
                "cancelling".into()
            } else {
                runs::cancel_stored(store, id)?;
                "cancelled".into()
            }
        }
        // Short writes another shell asks for while this process holds the database.
        Request::Gold { words } => {
            let cmd = super::gold::GoldCommand::from_words(&words)?;
            serde_json::to_value(super::gold::apply(store, cmd)?)?
        }
        Request::Import { words } => {
            let args = super::import::Args::from_words(&words)?;
            serde_json::to_value(super::import::apply(store, args)?)?
        }
        Request::Tag { id, add, remove } => {
            serde_json::to_value(super::tags::tag(store, id, &add, &remove)?)?
        }
        Request::Note { id, text } => serde_json::to_value(super::tags::note(store, id, text)?)?,
    })
}

/// Sends `req` to the holder on `conn` and returns its answer.
pub fn ask(
    db: &Path,
    conn: std::os::unix::net::UnixStream,
    req: &Request,
) -> Result<serde_json::Value> {
    let value = serde_json::to_value(req)?;
    Ok(crate::service::socket::request(db, conn, &value)?)
}
