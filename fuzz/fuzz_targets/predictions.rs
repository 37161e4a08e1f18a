//! A predictions file through the reader, both scoring modes and the verdicts; the streamed
//! scorer must agree with scoring the lines read whole.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use ie_bench::eval::{read_predictions, score, score_file, verdict, Mode};

fuzz_target!(|data: &[u8]| {
    let path = common::write(common::scratch().join("predictions.jsonl"), data);
    let read = read_predictions(&path);
    for mode in [Mode::Compat, Mode::Strict] {
        let streamed = score_file(&path, mode, None);
        match &read {
            Ok(lines) => {
                let whole = score(lines, mode);
                let streamed = streamed.expect("the streamed reader read what the whole one did");
                assert_eq!(format!("{:?}", whole), format!("{:?}", streamed));
                for l in lines {
                    let v = verdict(l, mode);
                    assert_eq!(v.line, l.line);
                }
            }
            Err(e) => {
                let s = streamed.expect_err("the streamed reader accepted a bad file");
                assert_eq!(e.to_string(), s.to_string());
            }
        }
    }
});
