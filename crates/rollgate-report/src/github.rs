//! GitHub Actions workflow commands: one `::error` or `::warning` line per
//! advice, which the runner turns into annotations on the pull request,
//! then the summary sentence as plain log output.
//!
//! Escaping follows `@actions/core`: a newline in a message would otherwise
//! end the command, and a `,` or `:` in a file name would end a property.

use std::io;

use rollgate_review::{FileReport, Level};

pub(crate) fn file(file: &FileReport, out: &mut dyn io::Write) -> io::Result<()> {
    for advice in &file.advices {
        let command = match advice.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        writeln!(
            out,
            "::{command} file={},line={},endLine={},col={},endColumn={},title={}::{}",
            escape_property(&file.path),
            advice.line,
            advice.end_line,
            advice.column,
            advice.end_column,
            escape_property(&advice.rule),
            escape_data(&advice.content),
        )?;
    }
    Ok(())
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}
