//! The user's keymap.toml and a theme TOML file: any bytes load or give a `ConfigError`.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use ie_bench::tui::keymap::Keymap;
use ie_bench::tui::theme::Theme;

fuzz_target!(|data: &[u8]| {
    let [keymap, theme] = common::parts(data, 2)[..] else {
        return;
    };
    let dir = common::scratch().join("config");
    common::write(dir.join("keymap.toml"), keymap);
    let theme_path = common::write(dir.join("mine.toml"), theme);
    if let Ok(k) = Keymap::load(Some(&dir)) {
        let _ = k.help_lines();
    }
    let _ = Theme::load(&theme_path.display().to_string(), None);
});
