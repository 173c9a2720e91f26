//! GitLab Code Quality report: a JSON array of issues, one per advice, in
//! the Code Climate subset that GitLab documents as required.
//!
//! GitLab matches issues between the base and head pipelines by
//! fingerprint, so the fingerprint leaves out line numbers: an edit above a
//! finding must not make it look fixed and newly introduced.

use std::{collections::HashMap, io};

use rollgate_review::{FileReport, Level};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::pretty::{PrettyJson, end_array};

/// How many issues were written, to place the commas and the closing `]`.
pub(crate) struct Gitlab {
    issues: usize,
    pretty: PrettyJson,
}

impl Gitlab {
    pub(crate) fn start(out: &mut dyn io::Write) -> io::Result<Gitlab> {
        out.write_all(b"[")?;
        Ok(Gitlab {
            issues: 0,
            pretty: PrettyJson::default(),
        })
    }

    pub(crate) fn file(&mut self, file: &FileReport, out: &mut dyn io::Write) -> io::Result<()> {
        // How often each (rule, content) was seen so far in this file, so
        // identical findings in one file still get distinct fingerprints.
        // The count is per path, and a path is reviewed once, so it starts
        // afresh with each file.
        let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
        for advice in &file.advices {
            let occurrence = seen.entry((&advice.rule, &advice.content)).or_default();
            let issue = Issue {
                kind: "issue",
                check_name: &advice.rule,
                description: &advice.content,
                fingerprint: fingerprint(&file.path, &advice.rule, &advice.content, *occurrence),
                severity: match advice.level {
                    Level::Error => "critical",
                    Level::Warning => "minor",
                },
                location: Location {
                    path: &file.path,
                    lines: Lines {
                        begin: advice.line,
                        end: advice.end_line,
                    },
                },
            };
            *occurrence += 1;
            self.pretty.write_element(out, &issue, self.issues, "  ")?;
            self.issues += 1;
        }
        Ok(())
    }

    pub(crate) fn finish(self, out: &mut dyn io::Write) -> io::Result<()> {
        end_array(out, self.issues, "")?;
        out.write_all(b"\n")
    }
}

/// Hex SHA-256 of `path \0 rule \0 content \0 occurrence`.
fn fingerprint(path: &str, rule: &str, content: &str, occurrence: usize) -> String {
    let mut hasher = Sha256::new();
    for part in [path, rule, content] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.update(occurrence.to_string().as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[derive(Serialize)]
struct Issue<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    check_name: &'a str,
    description: &'a str,
    fingerprint: String,
    severity: &'static str,
    location: Location<'a>,
}

#[derive(Serialize)]
struct Location<'a> {
    path: &'a str,
    lines: Lines,
}

#[derive(Serialize)]
struct Lines {
    begin: u32,
    end: u32,
}
