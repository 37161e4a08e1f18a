//! Short commands that write the database (`gold`, `import`) run wherever the database is:
//! here when it is free, and inside the process that holds it (the workbench, a `run`)
//! otherwise, over its socket. Their output comes back as text either way.

use anyhow::{Context, Result};
use std::path::Path;
use std::time::Duration;

use super::holder::{ask, Request};
use crate::service::socket::{open_or_reach, Opened};
use crate::store::Store;

/// What a command printed: standard output and standard error.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Said {
    pub out: String,
    pub err: String,
}

impl Said {
    pub fn out(&mut self, text: impl AsRef<str>) {
        self.out.push_str(text.as_ref());
    }

    pub fn note(&mut self, text: impl AsRef<str>) {
        self.err.push_str(text.as_ref());
        self.err.push('\n');
    }
}

/// How long a client waits for a holder to finish such a command (an import of a release
/// copy reads 130 MB of JSON).
const WAIT: Duration = Duration::from_secs(600);

/// Runs `here` on the database when this process can open it; otherwise sends `req` (the same
/// command as words) to the holder, which runs it on its store.
pub fn on_database(
    db: &Path,
    req: Request,
    here: impl FnOnce(&Store) -> Result<Said>,
) -> Result<Said> {
    let said = match open_or_reach(db).context("opening the database")? {
        Opened::Here(store) => here(&store)?,
        Opened::Holder { holder, conn } => {
            conn.set_read_timeout(Some(WAIT))
                .context("setting the socket's timeout")?;
            let answer =
                ask(db, conn, &req).with_context(|| format!("asking {holder} to run {req:?}"))?;
            serde_json::from_value(answer).context("reading the holder's answer")?
        }
    };
    Ok(said)
}
