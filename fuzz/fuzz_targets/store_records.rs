//! Store keys and the JSON records the store keeps: any bytes decode or fail cleanly, and a
//! record that decodes (NaN losses included) survives being written back.
#![no_main]
use libfuzzer_sys::fuzz_target;

use ie_bench::store::gold::GoldEntry;
use ie_bench::store::{KeyReader, MetricPoint, RunManifest, StoredPrediction, StoredScore};

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut r = KeyReader::new(rest);
    for step in 0..8 {
        let done = match (pick >> step) & 3 {
            0 => r.u64().is_none(),
            1 => r.u32().is_none(),
            _ => r.str().is_none(),
        };
        if done {
            break;
        }
    }
    let _ = serde_json::from_slice::<RunManifest>(rest);
    let _ = serde_json::from_slice::<StoredPrediction>(rest);
    let _ = serde_json::from_slice::<StoredScore>(rest);
    let _ = serde_json::from_slice::<GoldEntry>(rest);
    if let Ok(p) = serde_json::from_slice::<MetricPoint>(rest) {
        let back: MetricPoint =
            serde_json::from_slice(&serde_json::to_vec(&p).expect("points serialise"))
                .expect("a stored point reads back");
        assert_eq!(p.step, back.step);
        assert!(same(p.loss, back.loss), "{} vs {}", p.loss, back.loss);
        for (a, b) in [(p.lr, back.lr), (p.tokens_per_s, back.tokens_per_s), (p.epoch, back.epoch)] {
            assert_eq!(a.is_some(), b.is_some());
            if let (Some(a), Some(b)) = (a, b) {
                assert!(same(a, b), "{a} vs {b}");
            }
        }
    }
});
