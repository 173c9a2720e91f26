//! Renderers from review results to Rollgate's output formats: rustc-style
//! text for people ([`Format::Human`]), and for machines our own JSON, GitLab
//! Code Quality, GitHub Actions workflow commands, SARIF 2.1.0 and JUnit XML.
//!
//! This crate is pure: a renderer writes to the `Write` it is given and does
//! nothing else. It reads no files (the caller keeps the file text in
//! `FileReport::source` for code frames), does not detect terminals (the
//! caller decides [`RenderOptions::color`]) and does not choose exit codes.

use std::{fmt, io, str::FromStr};

use rollgate_review::{FileReport, Summary};

mod github;
mod gitlab;
mod human;
mod json;
mod junit;
mod sarif;

/// An output format, named on the command line by [`Format::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Human,
    Json,
    Gitlab,
    Github,
    Sarif,
    Junit,
}

impl Format {
    /// Every format, in the order help text should list them.
    pub const ALL: [Format; 6] = [
        Format::Human,
        Format::Json,
        Format::Gitlab,
        Format::Github,
        Format::Sarif,
        Format::Junit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Human => "human",
            Format::Json => "json",
            Format::Gitlab => "gitlab",
            Format::Github => "github",
            Format::Sarif => "sarif",
            Format::Junit => "junit",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Format, UnknownFormat> {
        Format::ALL
            .into_iter()
            .find(|format| format.as_str() == name)
            .ok_or_else(|| UnknownFormat(name.to_owned()))
    }
}

/// A format name that [`Format::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFormat(pub String);

impl fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown output format `{}`; expected one of ", self.0)?;
        let names: Vec<&str> = Format::ALL.iter().map(|format| format.as_str()).collect();
        f.write_str(&names.join(", "))
    }
}

impl std::error::Error for UnknownFormat {}

/// What the caller decides for a renderer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// Whether [`Format::Human`] may write ANSI colour codes. Other formats
    /// are for machines and never colour.
    pub color: bool,
    /// The Rollgate version, reported where a format names the tool (SARIF).
    pub tool_version: &'static str,
}

/// Writes the review of `files` to `out` in `format`. Every file appears in
/// formats that list files (JSON, JUnit), clean ones included.
pub fn render(
    format: Format,
    files: &[FileReport],
    options: &RenderOptions,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    match format {
        Format::Human => human::render(files, options, out),
        Format::Json => json::render(files, out),
        Format::Gitlab => gitlab::render(files, out),
        Format::Github => github::render(files, out),
        Format::Sarif => sarif::render(files, options, out),
        Format::Junit => junit::render(files, out),
    }
}

/// One sentence for the end of text output, e.g. `Found 2 errors and 1
/// warning in 3 files (14 statements).`
fn summary_sentence(files: &[FileReport]) -> String {
    let summary = Summary::of(files);
    let scope = format!(
        "in {} ({})",
        counted(summary.files, "file"),
        counted(summary.statements, "statement")
    );
    let findings = match (summary.errors, summary.warnings) {
        (0, 0) => return format!("No issues found {scope}."),
        (errors, 0) => counted(errors, "error"),
        (0, warnings) => counted(warnings, "warning"),
        (errors, warnings) => format!(
            "{} and {}",
            counted(errors, "error"),
            counted(warnings, "warning")
        ),
    };
    format!("Found {findings} {scope}.")
}

/// `1 file`, `2 files`: every noun we count takes a plain `s`.
fn counted(count: usize, noun: &str) -> String {
    let suffix = if count == 1 { "" } else { "s" };
    format!("{count} {noun}{suffix}")
}
