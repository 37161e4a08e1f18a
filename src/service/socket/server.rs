//! The holder's side of the socket: who is served, within which limits, and the answers.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::unix::{clear_stale_socket, listen_private, own_uid, peer_uid};
use super::{socket_path, Request};
use crate::store::{Result, Store, StoreError};

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
