//! Rollgate's own JSON: every file with its advices, then the summary.
//!
//! The shape is the serde form of `FileReport` and `Summary`, so a field
//! added there appears here; the `json` snapshot test is what notices.

use std::io;

use rollgate_review::{FileReport, Summary};
use serde::Serialize;

pub(crate) fn render(files: &[FileReport], out: &mut dyn io::Write) -> io::Result<()> {
    let document = Document {
        files,
        summary: Summary::of(files),
    };
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}

#[derive(Serialize)]
struct Document<'a> {
    files: &'a [FileReport],
    summary: Summary,
}
