//! `ie-bench bench`.

use anyhow::{bail, Result};
use std::process::ExitCode;

use crate::model::bench;
use crate::model::checkpoint::device;
use crate::model::T5Config;

#[derive(clap::Args)]
pub struct Args {
    /// t5-small, flan-t5-small (or tiny).
    #[arg(long, default_value = "t5-small")]
    shape: String,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// `table` or `json` ({"train_tok_s", "gen_tok_s_b1", "gen_tok_s_b8"}).
    #[arg(long, default_value = "table")]
    format: String,
    /// Timed training steps (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    train_steps: usize,
    /// Timed generations per batch size (after one warm-up).
    #[arg(long, default_value_t = 3)]
    gen_runs: usize,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let Some(cfg) = T5Config::shape(&a.shape, 32128) else {
        bail!(
            "--shape {}: expected t5-small, flan-t5-small or tiny",
            a.shape
        );
    };
    let dev = device(&a.device)?;
    let r = bench::run(&cfg, &dev, a.train_steps.max(1), a.gen_runs.max(1))?;
    let text = match a.format.as_str() {
        "json" => format!(
            "{}\n",
            serde_json::json!({"train_tok_s": r.train_tok_s, "gen_tok_s_b1": r.gen_tok_s_b1, "gen_tok_s_b8": r.gen_tok_s_b8})
        ),
        "table" => format!(
            "{} on {}: training {:.0} tok/s ({:.2} s/step, batch 8 x {} + {}; forward {:.2} s, backward {:.2} s, optimizer {:.2} s), generation {:.1} new tok/s at batch 1, {:.1} at batch 8 ({} new tokens)\n",
            a.shape, a.device, r.train_tok_s, r.train_step_s, bench::SOURCE_LEN, bench::TARGET_LEN, r.forward_s, r.backward_s, r.optimizer_s, r.gen_tok_s_b1, r.gen_tok_s_b8, bench::NEW_TOKENS
        ),
        other => bail!("--format {other}: expected table or json"),
    };
    super::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}
