//! `ie-bench run ...`: starting stored runs, and holding the database while they run.
//!
//! The process that executes runs holds the database (see `service::holder`): it runs them one
//! at a time on the compute thread, answers other processes' reads on the database socket,
//! and takes their requests there too: `run ...` from another shell is queued behind the
//! current run, `runs cancel` and `runs resume` reach the queue. It exits when its queue is
//! empty. A run keeps its spec, so `runs resume` reads exactly the same settings.

use anyhow::{bail, Context, Result};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::jobs::JobEvent;
use crate::service::holder::{ask, Holder, Request};
use crate::service::runs;
use crate::service::socket::{open_or_reach, Opened};
use crate::spec::RunSpec;
use crate::store::{RunId, Store};

/// `ie-bench run ...`: runs it here, or queues it in the process that holds the database.
pub fn start(db: &Path, cmd: RunSpec) -> Result<ExitCode> {
    runs::check(&cmd)?;
    let store = match open_or_reach(db).context("opening the database")? {
        Opened::Here(store) => store,
        Opened::Holder { holder, conn } => {
            let answer = ask(
                db,
                conn,
                &Request::Submit {
                    spec: Box::new(cmd),
                },
            )
            .with_context(|| format!("queueing the run in {holder}"))?;
            let id = answer
                .as_u64()
                .context("the holder answered without a run id")?;
            eprintln!("run {id} queued in {holder}; follow it with `ie-bench runs show {id}`");
            super::emit(&format!("{id}\n"))?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    let id = runs::create(&store, db, &cmd)?;
    if cmd.detach() {
        drop(store);
        let out = PathBuf::from(runs::store_out(db, id, &cmd));
        runs::detach(db, id, &out)?;
        super::emit(&format!("{id}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    hold(store, db, Some((id, cmd)))
}

/// Holds the database: runs `first` (if any) and whatever other processes queue, serving
/// their reads meanwhile, until the queue is empty.
pub fn hold(store: Store, db: &Path, first: Option<(RunId, RunSpec)>) -> Result<ExitCode> {
    let mut holder = Holder::new(store, db)?;
    let mut last = None;
    if let Some((id, cmd)) = first {
        holder.queue(id, cmd)?;
        last = Some(id);
    }
    let tty = std::io::stderr().is_terminal();
    // Runs submitted from elsewhere may arrive while one runs: wait for the queue to drain.
    let drain = |holder: &Holder| loop {
        match holder
            .events
            .recv_timeout(std::time::Duration::from_millis(200))
        {
            Ok(e) => print_event(&e, tty),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if holder.manager.pending() == 0 => {
                break
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    };
    drain(&holder);
    // No new requests once the socket is gone; one that came in just before still runs.
    holder.close_socket();
    drain(&holder);
    if let Some(id) = last {
        let m = holder.store.run(id)?;
        eprintln!("run {id}: {}", m.status.as_str());
        if let Some(error) = m.error {
            bail!("run {id} {}: {error}", m.status.as_str());
        }
        super::emit(&format!("{id}\n"))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_event(e: &JobEvent, tty: bool) {
    match e {
        JobEvent::Started { run, resumed_at } if *resumed_at > 0 => {
            eprintln!("run {run}: resuming at step {resumed_at}");
        }
        JobEvent::Started { run, .. } => eprintln!("run {run}: started"),
        JobEvent::Metric { point, total, .. } => match total {
            Some(total) => super::train::progress(
                point.step as usize,
                *total as usize,
                point.loss,
                point.lr.unwrap_or(0.0),
                point.tokens_per_s.unwrap_or(0.0),
            ),
            None => eprintln!("step {} loss {:.4}", point.step, point.loss),
        },
        JobEvent::Checkpoint { step, dir, .. } => {
            if tty {
                eprintln!();
            }
            eprintln!("checkpoint at step {step}: {dir}");
        }
        JobEvent::Scores { step, split, .. } => eprintln!("{split} scores stored at step {step}"),
        JobEvent::Progress {
            done, total, what, ..
        } if tty && *what == "predict" => {
            eprint!("\rpredict {done}/{total}   ");
        }
        _ => {}
    }
}
