//! Reading a database that another process holds.
//!
//! sled lets one process open a database. The process that holds it for a job (and later the
//! TUI) answers read requests on a Unix socket beside it, `ie-bench.sock`, one JSON line per
//! request and per answer; every answer is read from sled in the holder, so a reader sees
//! whole records only. [`Reader`] picks the database itself when it is free and the socket
//! when it is not.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    MetricPoint, Result, RunId, RunManifest, Store, StoreError, StoredPrediction, StoredScore,
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    Runs,
    Run { id: RunId },
    Metrics { id: RunId },
    Scores { id: RunId },
    Predictions { id: RunId },
}

pub fn socket_path(db: &Path) -> PathBuf {
    db.join("ie-bench.sock")
}

/// Serves read requests for `store` until the handle is dropped.
pub struct Server {
    path: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Handles requests beyond reads (a job queue's `submit`, `cancel`, ...): the answer or an
/// error message.
pub type Control =
    Arc<dyn Fn(&serde_json::Value) -> std::result::Result<serde_json::Value, String> + Send + Sync>;

pub fn serve(store: Arc<Store>, control: Option<Control>) -> Result<Server> {
    let path = socket_path(store.path());
    // Whoever made an old socket file has died: this process holds the lock.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(|source| StoreError::Io {
        path: path.clone(),
        source,
    })?;
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let store = Arc::clone(&store);
            let control = control.clone();
            std::thread::spawn(move || answer(&store, control.as_ref(), conn));
        }
    });
    Ok(Server { path })
}

fn answer(store: &Store, control: Option<&Control>, conn: UnixStream) {
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    for line in BufReader::new(conn).lines() {
        let Ok(line) = line else { return };
        let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        let reply = match (serde_json::from_value::<Request>(value.clone()), control) {
            (Err(_), Some(control)) => match control(&value) {
                Ok(v) => serde_json::json!({ "ok": v }),
                Err(e) => serde_json::json!({ "err": e }),
            },
            (Err(e), None) => serde_json::json!({ "err": format!("bad request: {e}") }),
            (Ok(req), _) => match respond(store, req) {
                Ok(value) => serde_json::json!({ "ok": value }),
                Err(e) => serde_json::json!({ "err": e.to_string(), "unknown_run": match e {
                    StoreError::UnknownRun(id) => Some(id),
                    _ => None,
                }}),
            },
        };
        let mut bytes = serde_json::to_vec(&reply).expect("JSON values serialise");
        bytes.push(b'\n');
        if out.write_all(&bytes).is_err() {
            return;
        }
    }
}

fn respond(store: &Store, req: Request) -> Result<serde_json::Value> {
    let value = match req {
        Request::Runs => serde_json::to_value(store.runs()?),
        Request::Run { id } => serde_json::to_value(store.run(id)?),
        Request::Metrics { id } => serde_json::to_value(store.metrics(id)?),
        Request::Scores { id } => serde_json::to_value(store.scores(id)?),
        Request::Predictions { id } => serde_json::to_value(store.predictions(id, None)?),
    };
    Ok(value.expect("records serialise"))
}

/// The database opened here, or a connection to the process that holds it and serves it.
pub enum Opened {
    Here(Store),
    Holder { holder: String, conn: UnixStream },
}

/// How long to wait for a database held by a process that does not serve it: another
/// command's short read or write, or a holder that has just started and does not listen yet.
const PATIENCE: Duration = Duration::from_secs(10);

/// Opens the database, or connects to the process holding it. A holder that does not answer
/// on the socket is waited for (up to 10 s) before the lock error is returned.
pub fn open_or_reach(db: &Path) -> Result<Opened> {
    let start = std::time::Instant::now();
    loop {
        match Store::open(db) {
            Ok(store) => return Ok(Opened::Here(store)),
            Err(StoreError::Locked { path, holder }) => {
                if let Ok(conn) = UnixStream::connect(socket_path(&path)) {
                    conn.set_read_timeout(Some(Duration::from_secs(30)))
                        .map_err(|source| StoreError::Io {
                            path: socket_path(&path),
                            source,
                        })?;
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
