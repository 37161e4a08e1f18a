//! A model directory: config.json and model.safetensors as given, loaded as the CPU path
//! does; a hostile header or size must end in a `ModelError`, never a panic or a huge
//! allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use candle_core::{DType, Device};
use ie_bench::model::{Params, T5Config};

fuzz_target!(|data: &[u8]| {
    let [config, weights] = common::parts(data, 2)[..] else {
        return;
    };
    let dir = common::scratch().join("model");
    let config_path = common::write(dir.join("config.json"), config);
    common::write(dir.join("model.safetensors"), weights);
    let Ok(cfg) = T5Config::read(&config_path) else {
        return;
    };
    let _ = Params::load(&dir, &cfg, DType::F32, &Device::Cpu);
});
