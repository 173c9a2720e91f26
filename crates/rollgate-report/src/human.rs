//! rustc-style diagnostics with code frames, for people at a terminal.
//!
//! Columns are counted in characters, like `Advice` columns. A tab before
//! the offending text is copied into the underline so the carets stay
//! aligned whatever the terminal's tab width; wide characters are not
//! measured.

use std::io;

use anstyle::{AnsiColor, Style};
use rollgate_review::{Advice, FileReport, Level};
use rollgate_sql::text::LineIndex;

use crate::RenderOptions;

/// A longer span is cut after this many lines; the first lines say where
/// the statement is, the rest would only push other findings off screen.
const MAX_FRAME_LINES: u32 = 3;

/// The palette, decided once; a file needs nothing from the ones before.
pub(crate) struct Human {
    palette: Palette,
}

impl Human {
    pub(crate) fn new(options: &RenderOptions) -> Human {
        Human {
            palette: Palette::new(options.color),
        }
    }

    pub(crate) fn file(&self, file: &FileReport, out: &mut dyn io::Write) -> io::Result<()> {
        if file.advices.is_empty() {
            return Ok(());
        }
        let source = file
            .source
            .as_deref()
            .map(|text| (text, LineIndex::new(text)));
        for advice in &file.advices {
            let frame = source
                .as_ref()
                .and_then(|(text, index)| Frame::new(text, index, advice));
            write_advice(out, &self.palette, &file.path, advice, frame.as_ref())?;
        }
        Ok(())
    }
}

fn write_advice(
    out: &mut dyn io::Write,
    palette: &Palette,
    path: &str,
    advice: &Advice,
    frame: Option<&Frame<'_>>,
) -> io::Result<()> {
    let level = palette.level(advice.level);
    let label = match advice.level {
        Level::Error => "error",
        Level::Warning => "warning",
    };
    let gutter = palette.gutter;
    let last_line = frame.map_or(advice.line, |frame| {
        advice.line + frame.lines.len() as u32 - 1
    });
    let width = digits(last_line);
    let pad = " ".repeat(width + 1);

    writeln!(
        out,
        "{level}{label}[{}]{level:#}: {}",
        advice.rule, advice.content
    )?;
    writeln!(
        out,
        "{pad}{gutter}-->{gutter:#} {path}:{}:{}",
        advice.line, advice.column
    )?;
    if let Some(frame) = frame {
        writeln!(out, "{pad} {gutter}|{gutter:#}")?;
        for (number, text) in (advice.line..).zip(&frame.lines) {
            let separator = if text.is_empty() { "" } else { " " };
            writeln!(
                out,
                "{gutter} {number:>width$} |{gutter:#}{separator}{text}"
            )?;
            if number == advice.line {
                writeln!(
                    out,
                    "{pad} {gutter}|{gutter:#} {}{level}{}{level:#}",
                    frame.indent,
                    "^".repeat(frame.underline)
                )?;
            }
        }
        if frame.cut {
            writeln!(out, "{gutter}...{gutter:#}")?;
        }
        writeln!(out, "{pad} {gutter}|{gutter:#}")?;
    }
    writeln!(
        out,
        "{pad} {gutter}={gutter:#} rule: {} (code {})",
        advice.title, advice.code
    )?;
    writeln!(out)
}

/// The source lines shown for one advice and where the underline goes.
struct Frame<'a> {
    /// From `advice.line` on: at least one, at most `MAX_FRAME_LINES`.
    lines: Vec<&'a str>,
    /// Whitespace up to the start column.
    indent: String,
    /// Number of carets; at least one, so an empty span is still visible.
    underline: usize,
    /// Whether the span has more lines than `lines`.
    cut: bool,
}

impl<'a> Frame<'a> {
    /// `None` when the advice points outside the text, e.g. because the file
    /// changed after the review.
    fn new(text: &'a str, index: &LineIndex, advice: &Advice) -> Option<Frame<'a>> {
        if advice.line == 0 || advice.line > index.line_count() {
            return None;
        }
        // A span that ends just after a line break ends on the line before;
        // showing the next line would point at text the advice does not mean.
        let end_line = if advice.end_line > advice.line && advice.end_column <= 1 {
            advice.end_line - 1
        } else {
            advice.end_line
        };
        let last_line = end_line.clamp(advice.line, index.line_count());
        let shown_last = last_line.min(advice.line + MAX_FRAME_LINES - 1);
        let lines: Vec<&str> = (advice.line..=shown_last)
            .map(|line| index.line_text(text, line))
            .collect();

        let first = lines[0];
        let start = advice.column.max(1) as usize - 1;
        let end = if advice.end_line == advice.line {
            advice.end_column as usize
        } else {
            first.chars().count() + 1
        };
        let indent: String = first
            .chars()
            .chain(std::iter::repeat(' '))
            .take(start)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        Some(Frame {
            lines,
            indent,
            underline: end.saturating_sub(start + 1).max(1),
            cut: last_line > shown_last,
        })
    }
}

struct Palette {
    error: Style,
    warning: Style,
    gutter: Style,
}

impl Palette {
    fn new(color: bool) -> Palette {
        if !color {
            return Palette {
                error: Style::new(),
                warning: Style::new(),
                gutter: Style::new(),
            };
        }
        Palette {
            error: AnsiColor::Red.on_default().bold(),
            warning: AnsiColor::Yellow.on_default().bold(),
            gutter: AnsiColor::Blue.on_default().bold(),
        }
    }

    fn level(&self, level: Level) -> Style {
        match level {
            Level::Error => self.error,
            Level::Warning => self.warning,
        }
    }
}

fn digits(number: u32) -> usize {
    number.checked_ilog10().map_or(1, |log| log as usize + 1)
}
