//! Reading a database that another process holds.
//!
//! sled lets one process open a database. The process that holds it for a job (and later the
//! TUI) answers read requests on a Unix socket beside it, `ie-bench.sock`, one JSON line per
//! request and per answer; every answer is read from sled in the holder, so a reader sees
//! whole records only. [`Reader`] picks the database itself when it is free and the socket
//! when it is not.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// The longest request line a holder reads; a client that sends more is cut off.
pub const MAX_REQUEST: usize = 1 << 20;
/// Connections served at once; more are refused with a message.
pub const MAX_CONNECTIONS: usize = 64;
/// A connection that sends nothing for this long is closed.
pub const IDLE: Duration = Duration::from_secs(60);

/// Serves `store` on `DB/ie-bench.sock` until the handle is dropped.
///
/// Who may connect: the socket is created with mode 0600 before it listens, and every
/// connection's peer uid (`SO_PEERCRED`) must be the holder's own, since a `submit` runs a
/// command (an `external` trainer) as the holder. Any other uid, root included, is refused
/// with a message.
pub fn serve(store: Arc<Store>, control: Option<Control>) -> Result<Server> {
    let path = socket_path(store.path());
    let io = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    clear_stale_socket(&path)?;
    let listener = listen_private(&path).map_err(io)?;
    let open = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("socket".to_string())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                match peer_uid(&conn) {
                    Ok(uid) if uid == own_uid() => {}
                    Ok(uid) => {
                        refuse(
                            conn,
                            &format!(
                                "refused: this database is held by uid {}, and its socket serves only that user (you are uid {uid})",
                                own_uid()
                            ),
                        );
                        continue;
                    }
                    Err(e) => {
                        refuse(conn, &format!("refused: cannot tell who you are: {e}"));
                        continue;
                    }
                }
                if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                    open.fetch_sub(1, Ordering::SeqCst);
                    refuse(
                        conn,
                        &format!("refused: the holder already serves {MAX_CONNECTIONS} connections; try again"),
                    );
                    continue;
                }
                let slot = Slot(Arc::clone(&open));
                let store = Arc::clone(&store);
                let control = control.clone();
                // A failed spawn drops the connection (and frees its slot) instead of ending
                // the accept loop.
                let _ = std::thread::Builder::new()
                    .name("socket-conn".to_string())
                    .spawn(move || {
                        let _slot = slot;
                        answer(&store, control.as_ref(), conn)
                    });
            }
        })
        .map_err(io)?;
    Ok(Server { path })
}

/// One served connection; dropping it frees its place under [`MAX_CONNECTIONS`].
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Tells a client why it is not served, without waiting on it, and closes.
fn refuse(conn: UnixStream, why: &str) {
    let _ = conn.set_write_timeout(Some(Duration::from_millis(200)));
    let mut line = serde_json::to_vec(&serde_json::json!({ "err": why })).unwrap_or_default();
    line.push(b'\n');
    let _ = (&conn).write_all(&line);
}

fn own_uid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// The uid of the process at the other end of a Unix socket.
pub fn peer_uid(conn: &UnixStream) -> std::io::Result<u32> {
    use std::os::fd::AsRawFd;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, a plain C struct.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    let r = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// Removes the socket a dead holder left (this process holds the lock now); anything else
/// at that path (a symbolic link, a file) is refused rather than deleted or followed.
fn clear_stale_socket(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        }),
        Ok(m) if m.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(|source| StoreError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
        Ok(_) => Err(StoreError::Unsafe {
            path: path.to_path_buf(),
            message: "exists and is not a socket (a symbolic link or a file?); ie-bench will not \
                      replace or follow it (remove it)"
                .to_string(),
        }),
    }
}

/// A listening socket at `path` with mode 0600, set before `listen`: a client cannot connect
/// in between, as it could to a socket bound with the umask's mode and changed after.
fn listen_private(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: sockaddr_un is a plain C struct; all zeroes is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "the socket path is {} bytes long; Unix sockets allow {} (use a shorter --db)",
                bytes.len(),
                addr.sun_path.len() - 1
            ),
        ));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: socket/bind/listen on a descriptor we own; `addr` outlives the calls and `len`
    // covers the family and the path with its terminating zero.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
    if unsafe { libc::bind(fd, (&addr as *const libc::sockaddr_un).cast(), len) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    if unsafe { libc::listen(fd, 128) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(UnixListener::from(owned))
}

fn answer(store: &Store, control: Option<&Control>, conn: UnixStream) {
    use crate::text::{read_line_capped, Line};
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    if conn.set_read_timeout(Some(IDLE)).is_err() {
        return;
    }
    let mut input = BufReader::new(conn);
    let mut line = Vec::new();
    loop {
        let reply = match read_line_capped(&mut input, &mut line, MAX_REQUEST) {
            // Closed, idle too long, or broken: nothing more to answer.
            Ok(Line::Eof) | Err(_) => return,
            Ok(Line::TooLong) => {
                let why = format!("refused: a request is at most {MAX_REQUEST} bytes");
                let _ =
                    out.write_all(format!("{}\n", serde_json::json!({ "err": why })).as_bytes());
                return;
            }
            Ok(Line::Complete) => reply_to(store, control, &line),
        };
        let mut bytes = serde_json::to_vec(&reply).expect("JSON values serialise");
        bytes.push(b'\n');
        if out.write_all(&bytes).is_err() {
            return;
        }
    }
}

fn reply_to(store: &Store, control: Option<&Control>, line: &[u8]) -> serde_json::Value {
    let value: serde_json::Value = serde_json::from_slice(line).unwrap_or_default();
    match (serde_json::from_value::<Request>(value.clone()), control) {
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
