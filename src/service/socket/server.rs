//! The holder's side of the socket: who is served, within which limits, and the answers.
//! It runs as tokio tasks on a thread of its own (one task per connection), so a slow request
//! (an import, a large run's predictions) holds up nobody else, and dropping the [`Server`]
//! stops it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::{oneshot, Semaphore};

use super::unix::{clear_stale_socket, listen_private, own_uid};
use super::{socket_path, Request};
use crate::store::{Result, Store, StoreError};

/// Serves read requests for `store` until the handle is dropped.
pub struct Server {
    path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        // Stops taking connections; requests already taken are answered (within 2 s).
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
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
    listener.set_nonblocking(true).map_err(io)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(io)?;
    let (stop, stopped) = oneshot::channel();
    std::thread::Builder::new()
        .name("socket".to_string())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::UnixListener::from_std(listener) else {
                    return;
                };
                accept(listener, store, control, stopped).await;
            });
        })
        .map_err(io)?;
    Ok(Server {
        path,
        stop: Some(stop),
    })
}

async fn accept(
    listener: tokio::net::UnixListener,
    store: Arc<Store>,
    control: Option<Control>,
    mut stopped: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let conn = tokio::select! {
            _ = &mut stopped => {
                // Requests already taken get their answers, unless a client lingers.
                let all = MAX_CONNECTIONS as u32;
                let _ = tokio::time::timeout(Duration::from_secs(2), slots.acquire_many(all)).await;
                return;
            }
            conn = listener.accept() => match conn {
                Ok((conn, _)) => conn,
                // A passing failure (out of descriptors) ends no one's service.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        match conn.peer_cred().map(|c| c.uid()) {
            Ok(uid) if uid == own_uid() => {}
            Ok(uid) => {
                let why = format!(
                    "refused: this database is held by uid {}, and its socket serves only that user (you are uid {uid})",
                    own_uid()
                );
                tokio::spawn(refuse(conn, why));
                continue;
            }
            Err(e) => {
                tokio::spawn(refuse(
                    conn,
                    format!("refused: cannot tell who you are: {e}"),
                ));
                continue;
            }
        }
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            let why = format!(
                "refused: the holder already serves {MAX_CONNECTIONS} connections; try again"
            );
            tokio::spawn(refuse(conn, why));
            continue;
        };
        let (store, control) = (Arc::clone(&store), control.clone());
        tokio::spawn(async move {
            let _slot = slot;
            answer(store, control, conn).await;
        });
    }
}

/// Tells a client why it is not served, without waiting on it long, and closes.
async fn refuse(mut conn: UnixStream, why: String) {
    let line = format!("{}\n", serde_json::json!({ "err": why }));
    let _ = tokio::time::timeout(Duration::from_millis(200), conn.write_all(line.as_bytes())).await;
}

/// The next request line: `None` when the client closed, went quiet for [`IDLE`] or broke;
/// `Some(Err(..))` when it sent more than [`MAX_REQUEST`] bytes without a newline.
async fn next_line(
    input: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    line: &mut Vec<u8>,
) -> Option<std::result::Result<(), ()>> {
    line.clear();
    let mut capped = (&mut *input).take(MAX_REQUEST as u64 + 1);
    match tokio::time::timeout(IDLE, capped.read_until(b'\n', line)).await {
        Ok(Ok(0)) | Ok(Err(_)) | Err(_) => None,
        Ok(Ok(_)) => {
            if line.last() == Some(&b'\n') {
                line.pop();
                Some(Ok(()))
            } else if line.len() > MAX_REQUEST {
                Some(Err(()))
            } else {
                // The last line, without its newline.
                Some(Ok(()))
            }
        }
    }
}

async fn answer(store: Arc<Store>, control: Option<Control>, conn: UnixStream) {
    let (read, mut out) = conn.into_split();
    let mut input = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        let reply = match next_line(&mut input, &mut line).await {
            None => return,
            Some(Err(())) => {
                let why = format!("refused: a request is at most {MAX_REQUEST} bytes");
                let _ = out
                    .write_all(format!("{}\n", serde_json::json!({ "err": why })).as_bytes())
                    .await;
                return;
            }
            Some(Ok(())) => {
                // sled reads and the holder's requests block: off the socket's thread.
                let (store, control, request) = (
                    Arc::clone(&store),
                    control.clone(),
                    std::mem::take(&mut line),
                );
                match tokio::task::spawn_blocking(move || {
                    reply_to(&store, control.as_ref(), &request)
                })
                .await
                {
                    Ok(reply) => reply,
                    Err(e) => serde_json::json!({ "err": format!("the request failed: {e}") }),
                }
            }
        };
        let mut bytes = serde_json::to_vec(&reply).expect("JSON values serialise");
        bytes.push(b'\n');
        if out.write_all(&bytes).await.is_err() {
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
        Request::Corrections => serde_json::to_value(super::corrections_listed(store)?),
    };
    Ok(value.expect("records serialise"))
}
