//! Building whole splits of the sample data: sampling, auxiliary thinning, seeds, missing splits.

#![allow(clippy::unwrap_used)] // a panic is how a test or bench reports failure

use ie_bench::data::TaskConfig;
use ie_bench::ie::{Split, TaskKind};
use ie_bench::prompt::{build_split, BuildOptions, InstructionBank, InstructionStrategy};
use std::path::PathBuf;

fn sample() -> (PathBuf, TaskConfig) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-data");
    let config = TaskConfig::read_dir(&root.join("configs/supervised")).unwrap();
    (root.join("IE_INSTRUCTIONS"), config)
}

fn count(out: &ie_bench::prompt::BuildOutput, task: TaskKind) -> usize {
    out.instances.iter().filter(|i| i.task == task).count()
}

#[test]
fn aux_prob_one_keeps_every_auxiliary_instance() {
    let (root, config) = sample();
    let opts = BuildOptions {
        aux_prob: 1.0,
        ..Default::default()
    };
    let out = build_split(
        &root,
        &config,
        Split::Train,
        &InstructionBank::builtin(),
        &opts,
    )
    .unwrap();
    assert_eq!(count(&out, TaskKind::Ner), 30);
    assert_eq!(count(&out, TaskKind::Es), 30);
    assert_eq!(count(&out, TaskKind::Et), 30);
    assert_eq!(count(&out, TaskKind::Ep), 16);
    assert_eq!(count(&out, TaskKind::Epr), 16);
    assert_eq!(count(&out, TaskKind::Eet), 16);
    assert_eq!(count(&out, TaskKind::Eea), 16);
}

#[test]
fn aux_subsampling_follows_pythons_random_stream() {
    // Expected values from CPython, drawing in config order (ES 30, ET 30, EP 16, EPR 16):
    //   python3 -c "import random; random.seed(42); d=[random.random()<0.3 for _ in range(92)];
    //               print(sum(d[0:30]), sum(d[30:60]), sum(d[60:76]), sum(d[76:92]));
    //               print([i for i in range(12) if d[i]])"
    let (root, config) = sample();
    let opts = BuildOptions::default();
    let out = build_split(
        &root,
        &config,
        Split::Train,
        &InstructionBank::builtin(),
        &opts,
    )
    .unwrap();
    let got = [TaskKind::Es, TaskKind::Et, TaskKind::Ep, TaskKind::Epr].map(|t| count(&out, t));
    assert_eq!(got, [13, 11, 4, 7]);
    let es_ids: Vec<&str> = out
        .instances
        .iter()
        .filter(|i| i.task == TaskKind::Es && i.dataset == "Tiny CoNLL")
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(es_ids, ["1", "2", "3", "7", "9", "10"]);
    // Main tasks and EET/EEA are never thinned.
    assert_eq!(count(&out, TaskKind::Ner), 30);
    assert_eq!(count(&out, TaskKind::Eea), 16);
}

#[test]
fn seed_changes_the_subset_and_is_reproducible() {
    let (root, config) = sample();
    let bank = InstructionBank::builtin();
    let ids = |seed| {
        let opts = BuildOptions {
            seed,
            ..Default::default()
        };
        build_split(&root, &config, Split::Train, &bank, &opts)
            .unwrap()
            .instances
            .into_iter()
            .map(|i| format!("{}/{}/{}", i.task, i.dataset, i.id))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(7), ids(7));
    assert_ne!(ids(7), ids(8));
}

#[test]
fn random_caps_and_over_sampling() {
    let (root, config) = sample();
    let bank = InstructionBank::builtin();
    let opts = BuildOptions {
        max_train: Some(5),
        aux_prob: 1.0,
        ..Default::default()
    };
    let out = build_split(&root, &config, Split::Train, &bank, &opts).unwrap();
    assert_eq!(
        count(&out, TaskKind::Ner),
        15,
        "first 5 of each `random` dataset"
    );
    let opts = BuildOptions {
        max_train: Some(11),
        over_sampling: true,
        ..Default::default()
    };
    let out = build_split(&root, &config, Split::Train, &bank, &opts).unwrap();
    let movie: Vec<_> = out
        .instances
        .iter()
        .filter(|i| i.task == TaskKind::Ner && i.dataset == "movie-mini")
        .collect();
    assert_eq!(movie.len(), 11, "8 records topped up to 11");
    assert_eq!(movie[8].id, "8");
    // Test splits are never capped.
    let out = build_split(&root, &config, Split::Test, &bank, &opts).unwrap();
    assert_eq!(count(&out, TaskKind::Ner), 17);
}

#[test]
fn multiple_strategy_varies_instructions() {
    let (root, config) = sample();
    let bank = InstructionBank::builtin();
    let opts = BuildOptions {
        strategy: InstructionStrategy::Multiple,
        ..Default::default()
    };
    let out = build_split(&root, &config, Split::Train, &bank, &opts).unwrap();
    let distinct: std::collections::BTreeSet<&str> = out
        .instances
        .iter()
        .filter(|i| i.task == TaskKind::Ner)
        .map(|i| i.source.split("\nOption").next().unwrap())
        .collect();
    assert_eq!(distinct.len(), 3);
}

#[test]
fn missing_split_is_fatal_unless_skipped() {
    let (root, _) = sample();
    let mut config = TaskConfig::builtin("zeroshot").unwrap();
    config.test.entries.retain(|_| false);
    config.test.entries.push(ie_bench::data::ConfigEntry {
        task: TaskKind::Ner,
        dataset: "movie-mini".into(),
        strategy: ie_bench::data::Strategy::Full,
    });
    config.dev = config.test.clone();
    let bank = InstructionBank::builtin();
    let err = build_split(&root, &config, Split::Dev, &bank, &BuildOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("movie-mini/dev.json: dev split is absent"),
        "{err}"
    );
    let opts = BuildOptions {
        skip_missing: true,
        ..Default::default()
    };
    let out = build_split(&root, &config, Split::Dev, &bank, &opts).unwrap();
    assert!(out.instances.is_empty());
    assert_eq!(out.notes.len(), 1);
}
