//! Wakes the workbench's event loop when work done off its thread has something to show: a
//! job event, a finished search or load, the default model. The loop sleeps until then
//! (or a key), so an idle workbench does no work at all.

use std::sync::OnceLock;
use tokio::sync::Notify;

fn notify() -> &'static Notify {
    static NOTIFY: OnceLock<Notify> = OnceLock::new();
    NOTIFY.get_or_init(Notify::new)
}

/// Tells the loop to look at what arrived. A wake while the loop is busy is kept for its next
/// wait, so none is lost.
pub fn wake() {
    notify().notify_one();
}

/// Waits for the next wake.
pub async fn woken() {
    notify().notified().await;
}
