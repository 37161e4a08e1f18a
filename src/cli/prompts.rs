//! `ie-bench prompts`.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::ie::Split;
use crate::spec::PromptArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub build: PromptArgs,
    /// Which split of the task config.
    #[arg(long, default_value = "test", value_parser = crate::spec::choice::<Split>())]
    split: Split,
    /// Output JSONL file (`-` for standard output).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let built = args.build.build(args.split)?;
    let mut buf = Vec::with_capacity(built.output.instances.len() * 512);
    for inst in &built.output.instances {
        serde_json::to_writer(&mut buf, inst)?;
        buf.push(b'\n');
    }
    if args.out.as_os_str() == "-" {
        super::emit(&String::from_utf8(buf)?)?;
    } else {
        std::fs::write(&args.out, &buf)
            .with_context(|| format!("writing {}", args.out.display()))?;
    }
    eprintln!(
        "{} instances from config {} ({} split) of {} -> {}",
        built.output.instances.len(),
        built.origin,
        args.split,
        built.root.display(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
