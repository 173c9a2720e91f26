//! Byte offsets to 1-based line and column numbers.

/// Maps byte offsets of one text to 1-based `(line, column)` pairs. Columns
/// count Unicode scalar values, so a position is the same whatever the
/// encoding of the editor that shows it; a `\r\n` ends a line like `\n`.
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// Byte offset at which each line starts.
    line_starts: Vec<u32>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i as u32 + 1);
            }
        }
        LineIndex { line_starts }
    }

    /// The 1-based line and column of `offset`. An offset past the end maps
    /// to the end of the text.
    pub fn line_col(&self, text: &str, offset: u32) -> (u32, u32) {
        let offset = offset.min(text.len() as u32);
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line] as usize;
        let mut end = offset as usize;
        while end > start && !text.is_char_boundary(end) {
            end -= 1;
        }
        let column = text[start..end].trim_end_matches('\r').chars().count() as u32 + 1;
        (line as u32 + 1, column)
    }

    /// The byte range of 1-based `line`, without its line terminator.
    pub fn line_text<'a>(&self, text: &'a str, line: u32) -> &'a str {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1) as usize) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line as usize)
            .map_or(text.len(), |&e| e as usize);
        text.get(start as usize..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }

    pub fn line_count(&self) -> u32 {
        self.line_starts.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    #[test]
    fn lines_and_columns_are_one_based() {
        let text = "ab\r\ncé d\nx";
        let index = LineIndex::new(text);
        assert_eq!(index.line_col(text, 0), (1, 1));
        assert_eq!(index.line_col(text, 4), (2, 1));
        // `d` comes after a two-byte character.
        assert_eq!(index.line_col(text, 8), (2, 4));
        assert_eq!(index.line_col(text, 100), (3, 2));
        assert_eq!(index.line_text(text, 1), "ab");
        assert_eq!(index.line_text(text, 2), "cé d");
    }
}
