//! The generated-text parser and matcher for every task and mode, and the terminal-safe text
//! that shows what it found.
#![no_main]
use libfuzzer_sys::fuzz_target;

use ie_bench::eval::extract::{event_strings, item_lists, score_instance, strict_items, Mode};
use ie_bench::eval::{verdict, PredictionLine};
use ie_bench::ie::TaskKind;


fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut pieces = text.splitn(3, '\u{0}');
    let gold = pieces.next().unwrap_or_default();
    let pred = pieces.next().unwrap_or_default();
    let sentence = pieces.next().unwrap_or_default();
    let task = TaskKind::ALL[pick as usize % TaskKind::ALL.len()];
    let mode = if pick & 0x80 == 0 { Mode::Compat } else { Mode::Strict };
    let _ = item_lists(task, gold, pred, mode);
    let _ = strict_items(task, pred);
    let _ = event_strings(pred, mode);
    let _ = score_instance(task, gold, pred, mode);
    let line = PredictionLine {
        line: 1,
        task,
        dataset: "d".into(),
        id: "0".into(),
        ground_truth: gold.into(),
        prediction: pred.into(),
        instruction: Some(format!("x \nOption: {sentence} \nText: {sentence} \nAnswer:")),
        sentence: (pick & 0x40 != 0).then(|| sentence.to_string()),
        truncated: pick & 0x20 != 0,
    };
    let v = verdict(&line, mode);
    for item in &v.items {
        for s in [&item.gold, &item.pred].into_iter().flatten() {
            let shown = ie_bench::text::display_safe(s);
            assert!(!shown.chars().any(ie_bench::text::needs_escape));
        }
    }
});
