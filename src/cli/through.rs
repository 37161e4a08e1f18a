//! Short commands that write the database (`gold`, `import`) run wherever the database is:
//! here when it is free, and inside the process that holds it (the workbench, a `run`)
//! otherwise, over its socket. Their output comes back as text either way.

use anyhow::{Context, Result};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::store::remote::{open_or_reach, request, Opened};
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

/// Runs `here` on the database when this process can open it; otherwise sends `words` as
/// request `op` to the holder, which runs the same command on its store.
pub fn on_database(
    db: &Path,
    op: &str,
    words: Vec<String>,
    here: impl FnOnce(&Store) -> Result<Said>,
) -> Result<ExitCode> {
    let said = match open_or_reach(db).context("opening the database")? {
        Opened::Here(store) => here(&store)?,
        Opened::Holder { holder, conn } => {
            conn.set_read_timeout(Some(WAIT))
                .context("setting the socket's timeout")?;
            let answer = request(db, conn, &serde_json::json!({"op": op, "words": words}))
                .with_context(|| format!("asking {holder} to run `ie-bench {op}`"))?;
            serde_json::from_value(answer).context("reading the holder's answer")?
        }
    };
    super::emit(&said.out)?;
    eprint!("{}", said.err);
    Ok(ExitCode::SUCCESS)
}
