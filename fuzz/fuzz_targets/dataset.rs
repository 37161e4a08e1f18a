//! Dataset records, labels.json and a task config, through the prompt builder: any bytes end
//! in instances or a `DataError`, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use ie_bench::data::TaskConfig;
use ie_bench::ie::{Split, TaskKind};
use ie_bench::prompt::build::{build_split, BuildOptions};
use ie_bench::prompt::InstructionBank;


fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let [records, labels, config] = common::parts(rest, 3)[..] else {
        return;
    };
    let task = TaskKind::ALL[pick as usize % TaskKind::ALL.len()];
    let root = common::scratch().join(format!("data{pick}"));
    let dir = root.join(task.main_task().as_str()).join("D");
    common::write(dir.join("train.json"), records);
    common::write(dir.join("labels.json"), labels);
    let cfg = root.join("configs");
    let fallback = format!(r#"{{"{}": [{{"dataset name": "D"}}]}}"#, task.as_str());
    let train_config: &[u8] = if config.is_empty() {
        fallback.as_bytes()
    } else {
        config
    };
    common::write(cfg.join("train_tasks.json"), train_config);
    common::write(cfg.join("dev_tasks.json"), b"{}");
    common::write(cfg.join("test_tasks.json"), b"{}");
    let Ok(config) = TaskConfig::read_dir(&cfg) else {
        return;
    };
    let opts = BuildOptions {
        aux_prob: 1.0,
        skip_missing: true,
        ..BuildOptions::default()
    };
    let _ = build_split(&root, &config, Split::Train, &InstructionBank::builtin(), &opts);
});
