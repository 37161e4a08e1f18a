//! Reading a database that another process holds.
//!
//! sled lets one process open a database. The process that holds it for a job (and later the
//! TUI) answers read requests on a Unix socket beside it, `ie-bench.sock`, one JSON line per
//! request and per answer; every answer is read from sled in the holder, so a reader sees
//! whole records only. [`Reader`] picks the database itself when it is free and the socket
//! when it is not.
//!
//! `server` answers on the socket, `unix` holds the socket-level checks both sides make (who is
//! at the other end, what is at the path), and this module is the client side.

mod server;
mod unix;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use server::{serve, Control, Server, IDLE, MAX_CONNECTIONS, MAX_REQUEST};
use unix::own_uid;
pub use unix::peer_uid;

use crate::store::{
    MetricPoint, Result, RunId, RunManifest, Store, StoreError, StoredPrediction, StoredScore,
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    Runs,
    Run {
        id: RunId,
    },
    Metrics {
        id: RunId,
    },
    Scores {
        id: RunId,
    },
    Predictions {
        id: RunId,
    },
    /// The gold corrections in force, as `(TASK/dataset, id, gold)`.
    Corrections,
}

pub fn socket_path(db: &Path) -> PathBuf {
    db.join("ie-bench.sock")
}

/// The database opened here, or a connection to the process that holds it and serves it.
pub enum Opened {
    Here(Store),
    Holder { holder: String, conn: UnixStream },
}

/// How long to wait for a database held by a process that does not serve it: another
/// command's short read or write, or a holder that has just started and does not listen yet.
const PATIENCE: Duration = Duration::from_secs(10);

/// How long a client waits for any answer from a holder that accepted its connection; one that
/// is stopped (SIGSTOP) or stuck is reported after this, not retried.
pub const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// Connects to the holder's socket, when there is one: only a socket of this user's, answered
/// by a process of this user's, so another local user cannot stand in for the holder.
fn connect_holder(path: &Path) -> Result<Option<UnixStream>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let sock = socket_path(path);
    let unsafe_socket = |message: String| StoreError::Unsafe {
        path: sock.clone(),
        message,
    };
    let Ok(meta) = std::fs::symlink_metadata(&sock) else {
        return Ok(None);
    };
    if !meta.file_type().is_socket() {
        return Err(unsafe_socket(
            "is not a socket (a symbolic link or a file?); ie-bench will not connect through it"
                .to_string(),
        ));
    }
    if meta.uid() != own_uid() {
        return Err(unsafe_socket(format!(
            "belongs to uid {}, not to you (uid {}); ie-bench will not talk to it",
            meta.uid(),
            own_uid()
        )));
    }
    let Ok(conn) = UnixStream::connect(&sock) else {
        return Ok(None);
    };
    match peer_uid(&conn) {
        Ok(uid) if uid == own_uid() => {}
        Ok(uid) => {
            return Err(unsafe_socket(format!(
                "is answered by a process of uid {uid}, not yours (uid {})",
                own_uid()
            )))
        }
        Err(e) => return Err(unsafe_socket(format!("cannot tell who answers it: {e}"))),
    }
    conn.set_read_timeout(Some(ANSWER_WAIT))
        .map_err(|source| StoreError::Io {
            path: sock.clone(),
            source,
        })?;
    Ok(Some(conn))
}

/// Opens the database, or connects to the process holding it. A holder that does not answer
/// on the socket is waited for (up to 10 s) before the lock error is returned.
pub fn open_or_reach(db: &Path) -> Result<Opened> {
    let start = std::time::Instant::now();
    loop {
        match Store::open(db) {
            Ok(store) => return Ok(Opened::Here(store)),
            Err(StoreError::Locked { path, holder }) => {
                if let Some(conn) = connect_holder(&path)? {
                    return Ok(Opened::Holder { holder, conn });
                }
                if start.elapsed() > PATIENCE {
                    return Err(StoreError::Locked {
                        path,
                        holder: format!("{holder}, which does not answer on its socket"),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Opens the database for a command that must write it here, waiting (up to 10 s) while
/// another command holds it briefly.
pub fn open_waiting(db: &Path) -> Result<Store> {
    match open_or_reach(db)? {
        Opened::Here(store) => Ok(store),
        Opened::Holder { holder, .. } => Err(StoreError::Locked {
            path: db.to_path_buf(),
            holder: format!("{holder}, which is running jobs"),
        }),
    }
}

/// Sends one request to the process holding `db` and returns its answer.
pub fn request(db: &Path, conn: UnixStream, req: &serde_json::Value) -> Result<serde_json::Value> {
    let mut answer = round_trip(db, &mut BufReader::new(conn), req)?;
    if let Some(err) = answer["err"].as_str() {
        return Err(StoreError::Refused(err.to_string()));
    }
    Ok(answer["ok"].take())
}

/// One request line out, one answer line back, as JSON. A holder that closes the connection or
/// answers garbage has gone away (`HolderGone`), which a reader may retry.
fn round_trip(
    db: &Path,
    conn: &mut BufReader<UnixStream>,
    req: &impl serde::Serialize,
) -> Result<serde_json::Value> {
    let gone = |message: String| StoreError::HolderGone {
        path: db.to_path_buf(),
        message,
    };
    let mut line = serde_json::to_vec(req).expect("requests serialise");
    line.push(b'\n');
    conn.get_mut()
        .write_all(&line)
        .map_err(|e| gone(e.to_string()))?;
    let mut reply = String::new();
    match conn.read_line(&mut reply) {
        Ok(0) => return Err(gone("it closed the connection".to_string())),
        Ok(_) => {}
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            // Stopped or stuck, not gone: asking again would only wait as long again.
            return Err(StoreError::Unresponsive {
                path: db.to_path_buf(),
                waited: ANSWER_WAIT.as_secs(),
            });
        }
        Err(e) => return Err(gone(e.to_string())),
    }
    serde_json::from_str(&reply).map_err(|e| gone(format!("unreadable answer: {e}")))
}

/// Read access to a database, held here or by another process.
pub enum Reader {
    Local(Store),
    Remote {
        db: PathBuf,
        conn: BufReader<UnixStream>,
    },
}

impl Reader {
    /// Opens the database, or connects to the process holding it.
    pub fn open(db: &Path) -> Result<Reader> {
        match open_or_reach(db)? {
            Opened::Here(store) => Ok(Reader::Local(store)),
            Opened::Holder { conn, .. } => Ok(Reader::Remote {
                db: db.to_path_buf(),
                conn: BufReader::new(conn),
            }),
        }
    }

    /// Sends a request to the holder. When the holder goes away meanwhile (it finished and
    /// released the database), the database is opened again, locally or through a new holder,
    /// and asked again.
    fn ask<T: serde::de::DeserializeOwned>(
        &mut self,
        req: Request,
        local: impl Fn(&Store) -> Result<T>,
    ) -> Result<T> {
        let mut attempts = 0;
        loop {
            let result = match self {
                Reader::Local(store) => return local(store),
                Reader::Remote { db, conn } => exchange(db, conn, &req),
            };
            match result {
                Err(StoreError::HolderGone { path, .. }) if attempts < 3 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(100));
                    *self = Reader::open(&path)?;
                }
                other => return other,
            }
        }
    }

    pub fn runs(&mut self) -> Result<Vec<(RunId, RunManifest)>> {
        self.ask(Request::Runs, Store::runs)
    }

    pub fn run(&mut self, id: RunId) -> Result<RunManifest> {
        self.ask(Request::Run { id }, |s| s.run(id))
    }

    pub fn metrics(&mut self, id: RunId) -> Result<Vec<MetricPoint>> {
        self.ask(Request::Metrics { id }, |s| s.metrics(id))
    }

    pub fn scores(&mut self, id: RunId) -> Result<Vec<StoredScore>> {
        self.ask(Request::Scores { id }, |s| s.scores(id))
    }

    /// `(TASK/dataset, index, prediction)` of every stored prediction of a run.
    pub fn predictions(&mut self, id: RunId) -> Result<Vec<(String, u64, StoredPrediction)>> {
        self.ask(Request::Predictions { id }, |s| s.predictions(id, None))
    }

    /// A run's stored predictions judged against the gold in force (see
    /// `results::with_gold_in_force`).
    pub fn predictions_in_force(
        &mut self,
        id: RunId,
    ) -> Result<Vec<(String, u64, StoredPrediction)>> {
        let predictions = self.predictions(id)?;
        Ok(crate::service::results::with_gold_in_force(
            predictions,
            &self.corrections()?,
        ))
    }

    /// The gold corrections in force, by `(TASK/dataset, id)`.
    pub fn corrections(&mut self) -> Result<HashMap<(String, String), String>> {
        let listed: Vec<(String, String, String)> =
            self.ask(Request::Corrections, corrections_listed)?;
        Ok(listed
            .into_iter()
            .map(|(dataset, id, gold)| ((dataset, id), gold))
            .collect())
    }
}

/// The corrections as a list: JSON has no pair keys.
fn corrections_listed(store: &Store) -> Result<Vec<(String, String, String)>> {
    Ok(store
        .gold_state()?
        .corrections()
        .into_iter()
        .map(|((dataset, id), gold)| (dataset, id, gold))
        .collect())
}

fn exchange<T: serde::de::DeserializeOwned>(
    db: &Path,
    conn: &mut BufReader<UnixStream>,
    req: &Request,
) -> Result<T> {
    let mut value = round_trip(db, conn, req)?;
    if let Some(id) = value["unknown_run"].as_u64() {
        return Err(StoreError::UnknownRun(id));
    }
    if let Some(err) = value["err"].as_str() {
        return Err(StoreError::Corrupt {
            path: db.to_path_buf(),
            message: err.to_string(),
        });
    }
    serde_json::from_value(value["ok"].take()).map_err(|e| StoreError::Corrupt {
        path: db.to_path_buf(),
        message: format!("unexpected answer: {e}"),
    })
}
