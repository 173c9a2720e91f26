//! Renderers from review results to Rollgate's output formats: rustc-style
//! text for people ([`Format::Human`]), and for machines our own JSON, GitLab
//! Code Quality, GitHub Actions workflow commands, SARIF 2.1.0 and JUnit XML.
//!
//! This crate is pure: a renderer writes to the `Write` it is given and does
//! nothing else. It reads no files (the caller keeps the file text in
//! `FileReport::source` for code frames), does not detect terminals (the
//! caller decides [`RenderOptions::color`]) and does not choose exit codes.

use std::{fmt, io, str::FromStr};

use rollgate_review::{FileReport, Level, Summary};

mod github;
mod gitlab;
mod human;
mod json;
mod junit;
mod pretty;
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
///
/// A thin wrapper over [`Renderer`], for callers that hold every report.
pub fn render(
    format: Format,
    files: &[FileReport],
    options: &RenderOptions,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    let mut renderer = Renderer::new(format, options, out)?;
    for file in files {
        renderer.file(file)?;
    }
    renderer.finish()?;
    Ok(())
}

/// Writes a review to `out` one file at a time, so a caller that gets
/// reports one by one need not keep them: the output is the same as
/// [`render`] on all of them in the order given.
///
/// A renderer keeps only what its format cannot write before the end: the
/// totals, SARIF's table of rules (one entry per distinct rule) and JUnit's
/// test cases (its root element states the totals). Of past files, the
/// other formats keep at most a reused buffer the size of one file's output.
pub struct Renderer<'w> {
    out: &'w mut dyn io::Write,
    summary: Summary,
    state: State,
}

impl<'w> Renderer<'w> {
    /// Starts a review in `format`, writing whatever comes before the first
    /// file.
    pub fn new(
        format: Format,
        options: &RenderOptions,
        out: &'w mut dyn io::Write,
    ) -> io::Result<Renderer<'w>> {
        let state = match format {
            Format::Human => State::Human(human::Human::new(options)),
            Format::Json => State::Json(json::Json::start(out)?),
            Format::Gitlab => State::Gitlab(gitlab::Gitlab::start(out)?),
            Format::Github => State::Github,
            Format::Sarif => State::Sarif(sarif::Sarif::start(options, out)?),
            Format::Junit => State::Junit(junit::Junit::default()),
        };
        Ok(Renderer {
            out,
            summary: Summary::default(),
            state,
        })
    }

    /// Renders one file's review. The report is not kept.
    pub fn file(&mut self, report: &FileReport) -> io::Result<()> {
        self.summary.files += 1;
        self.summary.statements += report.statements;
        for advice in &report.advices {
            match advice.level {
                Level::Error => self.summary.errors += 1,
                Level::Warning => self.summary.warnings += 1,
            }
        }
        let out = &mut *self.out;
        match &mut self.state {
            State::Human(human) => human.file(report, out),
            State::Json(json) => json.file(report, out),
            State::Gitlab(gitlab) => gitlab.file(report, out),
            State::Github => github::file(report, out),
            State::Sarif(sarif) => sarif.file(report, out),
            State::Junit(junit) => {
                junit.file(report);
                Ok(())
            }
        }
    }

    /// Writes whatever comes after the last file and returns the totals over
    /// every file given.
    pub fn finish(self) -> io::Result<Summary> {
        let Renderer {
            out,
            summary,
            state,
        } = self;
        match state {
            State::Human(_) | State::Github => writeln!(out, "{}", summary_sentence(&summary))?,
            State::Json(json) => json.finish(&summary, out)?,
            State::Gitlab(gitlab) => gitlab.finish(out)?,
            State::Sarif(sarif) => sarif.finish(out)?,
            State::Junit(junit) => junit.finish(out)?,
        }
        Ok(summary)
    }
}

/// What each format carries from one file to the next.
enum State {
    Human(human::Human),
    Json(json::Json),
    Gitlab(gitlab::Gitlab),
    Github,
    Sarif(sarif::Sarif),
    Junit(junit::Junit),
}

/// One sentence for the end of text output, e.g. `Found 2 errors and 1
/// warning in 3 files (14 statements).`
fn summary_sentence(summary: &Summary) -> String {
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
