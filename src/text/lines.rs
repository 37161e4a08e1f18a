//! Reading lines whose length the writer controls. `BufRead::lines` grows a line until its
//! newline, so one hostile line with none can take all memory, and it stops at the first
//! non-UTF-8 byte; these read bytes, stop at a cap, and leave decoding to the caller.

use std::io::{BufRead, ErrorKind};

/// What [`read_line_capped`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// The end of the input; nothing was read.
    Eof,
    /// A whole line is in the buffer, without its `\n` (the last line may lack one).
    Complete,
    /// The line is longer than the cap: the buffer holds its first `cap` bytes and the rest is
    /// still unread ([`skip_line`] drops it).
    TooLong,
}

/// Reads the next line into `buf` (cleared first), keeping at most `cap` bytes of it.
pub fn read_line_capped<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Line> {
    buf.clear();
    let mut any = false;
    loop {
        let chunk = fill(r)?;
        if chunk.is_empty() {
            return Ok(if any { Line::Complete } else { Line::Eof });
        }
        any = true;
        let (take, done) = match memchr_newline(chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        let room = cap - buf.len();
        if take > room {
            buf.extend_from_slice(&chunk[..room]);
            r.consume(room);
            return Ok(Line::TooLong);
        }
        buf.extend_from_slice(&chunk[..take]);
        r.consume(if done { take + 1 } else { take });
        if done {
            return Ok(Line::Complete);
        }
    }
}

/// Drops the rest of the current line, up to and including its `\n`.
pub fn skip_line<R: BufRead>(r: &mut R) -> std::io::Result<()> {
    loop {
        let chunk = fill(r)?;
        if chunk.is_empty() {
            return Ok(());
        }
        match memchr_newline(chunk) {
            Some(i) => {
                r.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = chunk.len();
                r.consume(n);
            }
        }
    }
}

/// `fill_buf`, retried when a signal interrupts it.
fn fill<R: BufRead>(r: &mut R) -> std::io::Result<&[u8]> {
    loop {
        match r.fill_buf() {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    // Filled: this returns the buffered bytes without reading again.
    r.fill_buf()
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_stop_at_the_cap_and_resume_after_skipping() {
        let input = b"short\n0123456789abcdef\n\xff\xfe bytes\nlast".to_vec();
        let mut r = std::io::BufReader::with_capacity(4, &input[..]);
        let mut buf = Vec::new();
        let mut next = |r: &mut std::io::BufReader<&[u8]>, want: Line, text: &[u8]| {
            assert_eq!(read_line_capped(r, &mut buf, 8).unwrap(), want);
            assert_eq!(buf, text);
        };
        next(&mut r, Line::Complete, b"short");
        next(&mut r, Line::TooLong, b"01234567");
        skip_line(&mut r).unwrap();
        next(&mut r, Line::Complete, b"\xff\xfe bytes");
        next(&mut r, Line::Complete, b"last");
        next(&mut r, Line::Eof, b"");
        // A line of exactly the cap is whole.
        let mut r = std::io::BufReader::new(&b"12345678\n"[..]);
        assert_eq!(
            read_line_capped(&mut r, &mut buf, 8).unwrap(),
            Line::Complete
        );
    }
}
