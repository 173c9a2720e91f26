//! Splits a migration file into statements, so the migrator can send each one
//! alone: PostgreSQL refuses `CREATE INDEX CONCURRENTLY` inside a
//! multi-statement string, and MySQL commits DDL statement by statement, so a
//! file must never go to the server in one piece.
//!
//! This is a lexer, not a parser. It knows just enough of each dialect to
//! tell a statement-ending `;` from one inside a string, an identifier, a
//! comment or a routine body; it knows nothing about what a statement means.
//! It is pure and total: every input, however broken, gives a list of
//! statements, and nothing here panics (it is a fuzzing target).
//!
//! What ends a statement, per dialect:
//!
//! - **PostgreSQL**, following psql: a `;` outside single-quoted strings
//!   (`''` escape; `E'...'` strings also take backslash escapes, and
//!   `standard_conforming_strings` is assumed on, as it is by default),
//!   double-quoted identifiers (`""` escape), dollar-quoted strings (`$$...$$`,
//!   `$tag$...$tag$`; `$1` is a parameter, not a tag), `--` comments, nested
//!   `/* */` comments and parentheses (so a `CREATE RULE ... DO (a; b)` stays
//!   whole). In a `CREATE [OR REPLACE] FUNCTION|PROCEDURE` statement, a
//!   SQL-standard body from `BEGIN ATOMIC` to its matching `END` is opaque;
//!   `CASE ... END` inside the body is counted so its `END` does not close
//!   the body. Keywords match case-insensitively, on word boundaries, outside
//!   parentheses.
//! - **MySQL**, following the mysql client: the current delimiter (`;` at
//!   first) outside `'...'` and `"..."` strings (backslash and doubled-quote
//!   escapes), `` `...` `` identifiers (doubled-backtick escape), `#` and
//!   `-- ` comments (MySQL wants a space or control character after `--`) and
//!   `/* */` comments. `/*! ... */` and `/*+ ... */` are executable
//!   (version-conditional code and optimizer hints), so they count as
//!   statement text, and a delimiter inside them does not split. A line
//!   `DELIMITER xx` at the start of a statement changes the delimiter and is
//!   itself not a statement. `BEGIN ... END` in stored programs is *not*
//!   recognised: files that define them must use `DELIMITER`, exactly as they
//!   must for the mysql client.
//! - **SQLite**, following `sqlite3_complete`: a `;` outside `'...'` strings,
//!   `"..."`, `` `...` `` and `[...]` identifiers, `--` comments and `/* */`
//!   comments, except inside a `CREATE [TEMP] TRIGGER` statement, whose body
//!   (`BEGIN stmt; ... END`) contains semicolons. There the statement ends at
//!   the first `;` after an `END` that itself directly follows a `;`, which
//!   is how SQLite's own shell decides a trigger is complete.
//!
//! A statement's text runs from its first to its last character that is
//! neither whitespace nor part of a comment, so comments before a statement
//! (such as `-- rollgate:` directives) and after it are left out, while
//! comments inside it are kept. A piece that holds only whitespace and
//! comments is not a statement. A string, identifier, comment or body left
//! open at the end of the file makes the rest of the file one statement, so
//! the database reports the error instead of the splitter hiding it.

/// The lexical rules to split by. This is separate from [`crate::Dialect`],
/// which names the dialects the crate can *parse*; splitting is needed for
/// every dialect the migrator can *run*.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SplitDialect {
    Postgres,
    Mysql,
    Sqlite,
}

/// One statement of a file, as the migrator sends it to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitStatement {
    /// The statement text without surrounding whitespace, surrounding
    /// comments or its terminating delimiter. It is always the slice of the
    /// input at `start`.
    pub text: String,
    /// Byte offset in the file of the statement's first character.
    pub start: u32,
    /// 1-based line of the statement's first character; lines end at `\n`,
    /// so CRLF files count the same as LF files.
    pub line: u32,
}

/// Splits `text` into the statements to send one by one, in file order.
pub fn split(dialect: SplitDialect, text: &str) -> Vec<SplitStatement> {
    let mut splitter = Splitter {
        dialect,
        text,
        bytes: text.as_bytes(),
        statements: Vec::new(),
        line_cursor: 0,
        line: 1,
        piece: Piece::default(),
        delimiter: ";".to_string(),
    };
    let mut position = 0;
    while position < splitter.bytes.len() {
        // Every step consumes at least one byte, so the loop ends.
        position = splitter.step(position).max(position + 1);
    }
    splitter.end_piece();
    splitter.statements
}

struct Splitter<'a> {
    dialect: SplitDialect,
    text: &'a str,
    bytes: &'a [u8],
    statements: Vec<SplitStatement>,
    /// Lines are counted lazily: `line` is the line of byte `line_cursor`.
    line_cursor: usize,
    line: u32,
    piece: Piece,
    /// The MySQL client's current delimiter; unused by the other dialects.
    delimiter: String,
}

/// What is known about the statement being read.
#[derive(Default)]
struct Piece {
    /// Byte range from the first to the end of the last significant token.
    /// `None` while only whitespace and comments have been seen.
    start: Option<usize>,
    end: usize,
    /// PostgreSQL: `(` not yet closed by `)`.
    paren_depth: u32,
    /// PostgreSQL: whether this is `CREATE [OR REPLACE] FUNCTION|PROCEDURE`.
    routine_head: RoutineHead,
    /// PostgreSQL: the previous token was a `BEGIN` that may open a body.
    after_begin: bool,
    /// PostgreSQL: open `BEGIN ATOMIC`, `BEGIN` and `CASE` blocks inside a
    /// routine body; zero outside a body.
    body_depth: u32,
    /// SQLite: the `sqlite3_complete` state.
    trigger: TriggerState,
}

/// Recognises the head `CREATE [OR REPLACE] FUNCTION|PROCEDURE` word by word.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum RoutineHead {
    #[default]
    Start,
    Create,
    CreateOr,
    CreateOrReplace,
    Routine,
    Other,
}

/// The states of `sqlite3_complete`, less its initial "invalid" state, which
/// differs from `Start` only in what it reports for an empty input.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum TriggerState {
    #[default]
    Start,
    Normal,
    Explain,
    Create,
    Trigger,
    Semi,
    End,
}

/// The tokens `sqlite3_complete` tells apart. Whitespace and comments leave
/// every state unchanged, so they are not fed to the machine at all.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TriggerToken {
    Semi,
    Other,
    Explain,
    Create,
    Temp,
    Trigger,
    End,
}

/// A significant token, as far as the dialect rules need to know.
#[derive(Clone, Copy)]
enum Token<'a> {
    Word(&'a str),
    Semicolon,
    OpenParen,
    CloseParen,
    Other,
}

impl Splitter<'_> {
    /// Reads the token at `i` and returns the offset just past it.
    fn step(&mut self, i: usize) -> usize {
        let Some(&byte) = self.bytes.get(i) else {
            return self.bytes.len();
        };
        let next = self.bytes.get(i + 1).copied();
        let dialect = self.dialect;

        if dialect == SplitDialect::Mysql {
            if let Some(after) = self.delimiter_command(i) {
                return after;
            }
            // The mysql client looks for the delimiter before it looks for
            // quotes or comments, so a delimiter such as `//` wins over `/*`.
            if self.bytes[i..].starts_with(self.delimiter.as_bytes()) {
                self.end_piece();
                return i + self.delimiter.len();
            }
        }

        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' => i + 1,
            b'-' if next == Some(b'-') && self.dash_comment_starts(i) => self.line_comment_end(i),
            b'#' if dialect == SplitDialect::Mysql => self.line_comment_end(i),
            b'/' if next == Some(b'*') => {
                let executable = dialect == SplitDialect::Mysql
                    && matches!(self.bytes.get(i + 2), Some(b'!' | b'+'));
                let (end, closed) = self.block_comment_end(i);
                // An unclosed comment stays in the text, so the database
                // reports it rather than the file silently ending early.
                if executable || !closed {
                    self.token(i, end, Token::Other);
                }
                end
            }
            b';' if dialect != SplitDialect::Mysql => {
                self.semicolon(i);
                i + 1
            }
            b'\'' => {
                let backslash = dialect == SplitDialect::Mysql;
                let end = self.quoted_end(i, b'\'', backslash);
                self.token(i, end, Token::Other);
                end
            }
            b'"' => {
                // MySQL reads "..." as a string unless ANSI_QUOTES is set;
                // the client splits it like one, backslashes included.
                let backslash = dialect == SplitDialect::Mysql;
                let end = self.quoted_end(i, b'"', backslash);
                self.token(i, end, Token::Other);
                end
            }
            b'`' if dialect != SplitDialect::Postgres => {
                let end = self.quoted_end(i, b'`', false);
                self.token(i, end, Token::Other);
                end
            }
            b'[' if dialect == SplitDialect::Sqlite => {
                let end = find(self.text, i + 1, "]").map_or(self.bytes.len(), |at| at + 1);
                self.token(i, end, Token::Other);
                end
            }
            b'$' if dialect == SplitDialect::Postgres => {
                let end = self.dollar_quote_end(i).unwrap_or(i + 1);
                self.token(i, end, Token::Other);
                end
            }
            b'(' => {
                self.token(i, i + 1, Token::OpenParen);
                i + 1
            }
            b')' => {
                self.token(i, i + 1, Token::CloseParen);
                i + 1
            }
            _ if is_identifier_byte(byte) && byte != b'$' => {
                let end = self.word_end(i);
                let word = self.text.get(i..end).unwrap_or("");
                if dialect == SplitDialect::Postgres
                    && word.eq_ignore_ascii_case("e")
                    && self.bytes.get(end) == Some(&b'\'')
                {
                    let string_end = self.quoted_end(end, b'\'', true);
                    self.token(i, string_end, Token::Other);
                    return string_end;
                }
                self.token(i, end, Token::Word(word));
                end
            }
            _ => {
                // Bytes of non-ASCII characters are identifier bytes, so only
                // ASCII arrives here and `i + 1` is a character boundary.
                self.token(i, i + 1, Token::Other);
                i + 1
            }
        }
    }

    /// Records a significant token and updates the dialect's block tracking.
    fn token(&mut self, start: usize, end: usize, token: Token<'_>) {
        self.piece.start.get_or_insert(start);
        self.piece.end = end;
        match self.dialect {
            SplitDialect::Postgres => self.postgres_token(token),
            SplitDialect::Sqlite => {
                let token = match token {
                    Token::Word(word) => sqlite_trigger_token(word),
                    Token::Semicolon => TriggerToken::Semi,
                    _ => TriggerToken::Other,
                };
                self.piece.trigger = next_trigger_state(self.piece.trigger, token);
            }
            SplitDialect::Mysql => {}
        }
    }

    /// psql's rule, narrowed to SQL-standard bodies: inside
    /// `CREATE [OR REPLACE] FUNCTION|PROCEDURE`, outside parentheses,
    /// `BEGIN ATOMIC` opens a body, and within it `BEGIN` and `CASE` open and
    /// `END` closes a block.
    fn postgres_token(&mut self, token: Token<'_>) {
        let piece = &mut self.piece;
        piece.routine_head = match (piece.routine_head, token) {
            (RoutineHead::Start, Token::Word(w)) if is(w, "CREATE") => RoutineHead::Create,
            (RoutineHead::Create, Token::Word(w)) if is(w, "OR") => RoutineHead::CreateOr,
            (RoutineHead::CreateOr, Token::Word(w)) if is(w, "REPLACE") => {
                RoutineHead::CreateOrReplace
            }
            (RoutineHead::Create | RoutineHead::CreateOrReplace, Token::Word(w))
                if is(w, "FUNCTION") || is(w, "PROCEDURE") =>
            {
                RoutineHead::Routine
            }
            (RoutineHead::Routine, _) => RoutineHead::Routine,
            _ => RoutineHead::Other,
        };

        let after_begin = std::mem::take(&mut piece.after_begin);
        match token {
            Token::OpenParen => piece.paren_depth = piece.paren_depth.saturating_add(1),
            Token::CloseParen => piece.paren_depth = piece.paren_depth.saturating_sub(1),
            Token::Word(word)
                if piece.routine_head == RoutineHead::Routine && piece.paren_depth == 0 =>
            {
                if after_begin && is(word, "ATOMIC") {
                    piece.body_depth = 1;
                } else if is(word, "BEGIN") {
                    if piece.body_depth > 0 {
                        piece.body_depth = piece.body_depth.saturating_add(1);
                    } else {
                        piece.after_begin = true;
                    }
                } else if is(word, "CASE") && piece.body_depth > 0 {
                    piece.body_depth = piece.body_depth.saturating_add(1);
                } else if is(word, "END") {
                    piece.body_depth = piece.body_depth.saturating_sub(1);
                }
            }
            _ => {}
        }
    }

    /// A `;` in PostgreSQL or SQLite: it ends the statement unless a
    /// parenthesis, routine body or trigger body is open.
    fn semicolon(&mut self, i: usize) {
        let ends = match self.dialect {
            SplitDialect::Postgres => self.piece.paren_depth == 0 && self.piece.body_depth == 0,
            SplitDialect::Sqlite => {
                next_trigger_state(self.piece.trigger, TriggerToken::Semi) == TriggerState::Start
            }
            SplitDialect::Mysql => true,
        };
        if ends {
            self.end_piece();
        } else {
            self.token(i, i + 1, Token::Semicolon);
        }
    }

    /// Emits the statement read so far, if it has any significant token, and
    /// starts a new one.
    fn end_piece(&mut self) {
        let piece = std::mem::take(&mut self.piece);
        let Some(start) = piece.start else {
            return;
        };
        let mut end = piece.end.clamp(start, self.bytes.len());
        // Only a string or comment left open at the end of the input can end
        // in whitespace; trim it too, so every text is trimmed.
        while end > start && self.bytes[end - 1].is_ascii_whitespace() {
            end -= 1;
        }
        while !self.text.is_char_boundary(end) {
            end += 1;
        }
        let Some(text) = self.text.get(start..end) else {
            return;
        };
        let newlines = self
            .bytes
            .get(self.line_cursor..start)
            .map_or(0, |skipped| skipped.iter().filter(|&&b| b == b'\n').count());
        self.line = self.line.saturating_add(saturating_u32(newlines));
        self.line_cursor = start;
        self.statements.push(SplitStatement {
            text: text.to_string(),
            start: saturating_u32(start),
            line: self.line,
        });
    }

    /// The end of the word starting at `i`. The mysql client looks for its
    /// delimiter at every byte, so in MySQL a word also ends where the
    /// delimiter starts: `END$$` is `END` and the delimiter `$$`.
    fn word_end(&self, i: usize) -> usize {
        let mut j = i + 1;
        while let Some(&byte) = self.bytes.get(j) {
            if !is_identifier_byte(byte)
                || (self.dialect == SplitDialect::Mysql
                    && self.bytes[j..].starts_with(self.delimiter.as_bytes()))
            {
                break;
            }
            j += 1;
        }
        j
    }

    /// Whether the `--` at `i` starts a comment. MySQL wants whitespace, a
    /// control character or the end of the input after it: `1--1` is `1 - -1`.
    fn dash_comment_starts(&self, i: usize) -> bool {
        self.dialect != SplitDialect::Mysql || self.bytes.get(i + 2).is_none_or(|&b| b <= b' ')
    }

    /// The end of a line comment: its `\n`, which stays for line counting.
    fn line_comment_end(&self, i: usize) -> usize {
        find(self.text, i, "\n").unwrap_or(self.bytes.len())
    }

    /// The offset past the block comment opening at `i`, and whether it was
    /// closed. PostgreSQL nests block comments; MySQL and SQLite do not.
    fn block_comment_end(&self, i: usize) -> (usize, bool) {
        if self.dialect != SplitDialect::Postgres {
            return match find(self.text, i + 2, "*/") {
                Some(at) => (at + 2, true),
                None => (self.bytes.len(), false),
            };
        }
        let mut depth = 0_u32;
        let mut j = i;
        while j < self.bytes.len() {
            match self.bytes.get(j..j + 2) {
                Some(b"/*") => {
                    depth = depth.saturating_add(1);
                    j += 2;
                }
                Some(b"*/") => {
                    depth = depth.saturating_sub(1);
                    j += 2;
                    if depth == 0 {
                        return (j, true);
                    }
                }
                _ => j += 1,
            }
        }
        (self.bytes.len(), false)
    }

    /// The offset past the quoted string or identifier opening at `i`, or the
    /// end of the input if it is never closed. A doubled `quote` stands for
    /// itself; with `backslash`, a backslash escapes the byte after it.
    fn quoted_end(&self, i: usize, quote: u8, backslash: bool) -> usize {
        let mut j = i + 1;
        while let Some(&byte) = self.bytes.get(j) {
            if backslash && byte == b'\\' {
                j += 2;
            } else if byte == quote {
                if self.bytes.get(j + 1) == Some(&quote) {
                    j += 2;
                } else {
                    return j + 1;
                }
            } else {
                j += 1;
            }
        }
        self.bytes.len()
    }

    /// The offset past the dollar-quoted string opening at `i` (the end of
    /// the input if it is never closed), or `None` if the `$` at `i` opens no
    /// dollar quote. A tag is empty or an identifier without `$`, so `$1` is
    /// a parameter. Identifiers swallow the `$`s they contain (`a$b`) before
    /// this is asked.
    fn dollar_quote_end(&self, i: usize) -> Option<usize> {
        let mut j = i + 1;
        let first = *self.bytes.get(j)?;
        if first != b'$' {
            if !(first.is_ascii_alphabetic() || first == b'_' || first >= 0x80) {
                return None;
            }
            while self
                .bytes
                .get(j)
                .is_some_and(|&b| is_identifier_byte(b) && b != b'$')
            {
                j += 1;
            }
            if self.bytes.get(j) != Some(&b'$') {
                return None;
            }
        }
        let delimiter = self.text.get(i..=j)?;
        Some(find(self.text, j + 1, delimiter).map_or(self.bytes.len(), |at| at + delimiter.len()))
    }

    /// The mysql client's `DELIMITER xx` command at `i`: recognised at the
    /// start of a line, before any text of the next statement (so a column
    /// named `delimiter` on its own line is left alone). Sets the delimiter
    /// and returns the end of the line, which is not part of any statement.
    fn delimiter_command(&mut self, i: usize) -> Option<usize> {
        const COMMAND: &[u8] = b"delimiter";
        if self.piece.start.is_some() {
            return None;
        }
        let head = self.bytes.get(i..i + COMMAND.len())?;
        if !head.eq_ignore_ascii_case(COMMAND)
            || !matches!(self.bytes.get(i + COMMAND.len()), Some(b' ' | b'\t'))
        {
            return None;
        }
        // Only blanks may precede it on its line. Looking back over blanks
        // alone keeps a long line of `/**/delimiter x;` linear.
        let blanks = self.bytes[..i]
            .iter()
            .rev()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if i > blanks && self.bytes[i - blanks - 1] != b'\n' {
            return None;
        }
        let line_end = find(self.text, i, "\n").unwrap_or(self.bytes.len());
        let argument = self.text.get(i + COMMAND.len()..line_end)?;
        let word = argument.split_ascii_whitespace().next()?;
        let word = unquote(word);
        if word.is_empty() {
            return None;
        }
        self.delimiter = word.to_string();
        Some(line_end)
    }
}

/// `'xx'`, `"xx"` or `` `xx` `` as `xx`, as the mysql client takes a quoted
/// delimiter; anything else unchanged.
fn unquote(word: &str) -> &str {
    for quote in ['\'', '"', '`'] {
        if let Some(inner) = word
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    word
}

fn sqlite_trigger_token(word: &str) -> TriggerToken {
    if is(word, "CREATE") {
        TriggerToken::Create
    } else if is(word, "TEMP") || is(word, "TEMPORARY") {
        TriggerToken::Temp
    } else if is(word, "TRIGGER") {
        TriggerToken::Trigger
    } else if is(word, "END") {
        TriggerToken::End
    } else if is(word, "EXPLAIN") {
        TriggerToken::Explain
    } else {
        TriggerToken::Other
    }
}

/// The transition table of SQLite's `sqlite3_complete`: once `CREATE [TEMP]
/// TRIGGER` has been seen, only `; END ;` (whitespace and comments aside)
/// completes the statement.
fn next_trigger_state(state: TriggerState, token: TriggerToken) -> TriggerState {
    use TriggerState as S;
    use TriggerToken as T;
    match (state, token) {
        (S::Trigger | S::Semi, T::Semi) => S::Semi,
        (S::Semi, T::End) => S::End,
        (S::End, T::Semi) => S::Start,
        (S::Trigger | S::Semi | S::End, _) => S::Trigger,
        (_, T::Semi) => S::Start,
        (S::Start, T::Explain) => S::Explain,
        (S::Start | S::Explain, T::Create) => S::Create,
        (S::Explain, T::Other) => S::Explain,
        (S::Create, T::Temp) => S::Create,
        (S::Create, T::Trigger) => S::Trigger,
        _ => S::Normal,
    }
}

/// Bytes that continue an unquoted word. Every byte of a non-ASCII character
/// counts, as PostgreSQL, MySQL and SQLite all allow such characters in
/// identifiers; `$` counts as all three allow it after the first character.
fn is_identifier_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80
}

fn is(word: &str, keyword: &str) -> bool {
    word.eq_ignore_ascii_case(keyword)
}

/// The offset of the first `needle` in `text` at or after `from`. `str::find`
/// is linear, which matters for a long dollar-quote tag in fuzzed input.
fn find(text: &str, from: usize, needle: &str) -> Option<usize> {
    text.get(from..)?.find(needle).map(|at| from + at)
}

fn saturating_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}
