//! Text from outside (files, subprocesses, sockets, models): read a line at a time with a cap
//! on its length, and made safe to put on a terminal.

pub mod lines;
pub mod safe;

pub use lines::{read_line_capped, skip_line, Line};
pub use safe::{display_safe, needs_escape, safe_string, SafeText};
