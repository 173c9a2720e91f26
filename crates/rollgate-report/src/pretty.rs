//! Pretty JSON written piece by piece, so a streamed document has the same
//! bytes as `serde_json::to_writer_pretty` on the whole value.

use std::io;

use serde::Serialize;

/// Writes values as pretty JSON nested inside a larger document. Each value
/// is serialized into a reused buffer first and then copied out a line at a
/// time: far fewer writes than serde_json's one per token, and the buffer
/// holds one value (one file's worth), never the document.
#[derive(Default)]
pub(crate) struct PrettyJson {
    scratch: Vec<u8>,
}

impl PrettyJson {
    /// Writes `value` so that every line after the first starts with
    /// `indent`, the whitespace of the enclosing levels. The caller writes
    /// what goes before the first line, `indent` included.
    pub(crate) fn write_nested<T: Serialize>(
        &mut self,
        out: &mut dyn io::Write,
        value: &T,
        indent: &str,
    ) -> io::Result<()> {
        self.scratch.clear();
        serde_json::to_writer_pretty(&mut self.scratch, value)?;
        // Pretty JSON has a raw line break only between tokens, never
        // inside a string (it escapes them there), so indenting after each
        // one shifts the layout without touching any value.
        let mut lines = self.scratch.split(|&byte| byte == b'\n');
        if let Some(first) = lines.next() {
            out.write_all(first)?;
        }
        for line in lines {
            out.write_all(b"\n")?;
            out.write_all(indent.as_bytes())?;
            out.write_all(line)?;
        }
        Ok(())
    }

    /// Writes `value` as element number `index` (from 0) of an array whose
    /// elements are indented by `indent`: the comma that separates it from
    /// the one before, a line break, the indent and the value.
    pub(crate) fn write_element<T: Serialize>(
        &mut self,
        out: &mut dyn io::Write,
        value: &T,
        index: usize,
        indent: &str,
    ) -> io::Result<()> {
        let separator: &[u8] = if index == 0 { b"\n" } else { b",\n" };
        out.write_all(separator)?;
        out.write_all(indent.as_bytes())?;
        self.write_nested(out, value, indent)
    }
}

/// Writes the `]` that ends an array of `len` elements whose own line is
/// indented by `indent`.
pub(crate) fn end_array(out: &mut dyn io::Write, len: usize, indent: &str) -> io::Result<()> {
    // serde_json writes an empty array as `[]`, on one line.
    if len > 0 {
        out.write_all(b"\n")?;
        out.write_all(indent.as_bytes())?;
    }
    out.write_all(b"]")
}
