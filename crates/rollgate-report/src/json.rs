//! Rollgate's own JSON: every file with its advices, then the summary.
//!
//! The shape is the serde form of `FileReport` and `Summary`, so a field
//! added there appears here; the `json` snapshot test is what notices. The
//! bytes are those of `serde_json::to_writer_pretty` on
//! `{"files": [..], "summary": {..}}`, written one file at a time.

use std::io;

use rollgate_review::{FileReport, Summary};

use crate::pretty::{PrettyJson, end_array};

/// How many files were written, to place the commas and the closing `]`.
pub(crate) struct Json {
    files: usize,
    pretty: PrettyJson,
}

impl Json {
    pub(crate) fn start(out: &mut dyn io::Write) -> io::Result<Json> {
        out.write_all(b"{\n  \"files\": [")?;
        Ok(Json {
            files: 0,
            pretty: PrettyJson::default(),
        })
    }

    pub(crate) fn file(&mut self, file: &FileReport, out: &mut dyn io::Write) -> io::Result<()> {
        self.pretty.write_element(out, file, self.files, "    ")?;
        self.files += 1;
        Ok(())
    }

    pub(crate) fn finish(mut self, summary: &Summary, out: &mut dyn io::Write) -> io::Result<()> {
        end_array(out, self.files, "  ")?;
        out.write_all(b",\n  \"summary\": ")?;
        self.pretty.write_nested(out, summary, "  ")?;
        out.write_all(b"\n}\n")
    }
}
