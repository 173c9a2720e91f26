//! The review engine: parse, replay, run rules, produce advice.
//!
//! Files are reviewed in version order against one [`Catalog`] that each
//! file's statements are replayed into, so a rule sees the schema as it is
//! just before the statement it checks. Parsing, the expensive part, runs in
//! parallel over a batch of files; rules and replay then run in order.
//! Callers feed batches, so memory holds one batch of syntax trees at a time
//! plus the advice.

use std::collections::HashSet;
use std::sync::Arc;

use rayon::prelude::*;
use rollgate_migration::{ChangeType, IgnoreScope, Loaded, MigrationFile};
use rollgate_sql::catalog::Catalog;
use rollgate_sql::text::LineIndex;
use rollgate_sql::{ParsedFile, Span, StatementKind};

use crate::advice::{Advice, FileReport, Level};
use crate::policy::Policy;
use crate::rule::{FileCx, FileState, RuleCx, RuleDef};
use crate::rules;

/// Code and name of the advice for a syntax error.
pub const SYNTAX_ERROR: &str = "SYNTAX_ERROR";
pub const SYNTAX_ERROR_CODE: u32 = 201;

/// Reviews files in order, carrying the schema catalog from one to the next.
pub struct Reviewer<'p> {
    policy: &'p Policy,
    catalog: Catalog,
}

impl<'p> Reviewer<'p> {
    /// A reviewer starting from `catalog`: empty for a local lint, a live
    /// schema on the server.
    pub fn new(policy: &'p Policy, catalog: Catalog) -> Reviewer<'p> {
        Reviewer { policy, catalog }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Reviews the next files, which must follow the previous batch in
    /// version order.
    pub fn review_batch(&mut self, batch: Vec<Loaded>) -> Vec<FileReport> {
        let mut reports = Vec::with_capacity(batch.len());
        self.review_stream(std::iter::once(batch), |report| reports.push(report));
        reports
    }

    /// Reviews batches of files in version order, handing each report to
    /// `emit` as soon as it is ready. While one batch is reviewed (in order,
    /// on one thread) the next is read and parsed on the others.
    pub fn review_stream<I>(&mut self, batches: I, mut emit: impl FnMut(FileReport))
    where
        I: Iterator<Item = Vec<Loaded>> + Send,
    {
        let dialect = self.policy.dialect;
        let size_limit = self.size_limit();
        let parse_batch = |batch: Vec<Loaded>| -> Vec<(Loaded, Option<ParsedFile>)> {
            batch
                .into_par_iter()
                .map(|loaded| {
                    let parsed = match &loaded {
                        Loaded::File(file) if (file.text.len() as u64) <= size_limit => {
                            Some(rollgate_sql::parse(dialect, &file.text))
                        }
                        _ => None,
                    };
                    (loaded, parsed)
                })
                .collect()
        };
        let mut batches = batches;
        let mut current = batches.next().map(parse_batch);
        while let Some(parsed) = current.take() {
            let (next, reports) = rayon::join(
                || batches.next().map(parse_batch),
                || {
                    parsed
                        .into_iter()
                        .map(|(loaded, parsed)| self.review_one(loaded, parsed))
                        .collect::<Vec<_>>()
                },
            );
            reports.into_iter().for_each(&mut emit);
            current = next;
        }
    }

    fn size_limit(&self) -> u64 {
        match self.policy.enabled(rules::STATEMENT_MAXIMUM_SQL_SIZE.name) {
            Some(rule) if rule.options.number > 0 => (rule.options.number as u64) * 1024 * 1024,
            _ => rollgate_migration::MAX_REVIEW_SIZE,
        }
    }

    fn review_one(&mut self, loaded: Loaded, parsed: Option<ParsedFile>) -> FileReport {
        match loaded {
            Loaded::File(file) => match parsed {
                Some(parsed) => self.review_file(&file, parsed),
                None => {
                    let size = file.text.len() as u64;
                    let mut report = report_for(&file, 0, Vec::new());
                    report.advices = self.oversized(size);
                    report
                }
            },
            Loaded::Empty { path } => {
                let file = MigrationFile::from_text(&path, "");
                report_for(&file, 0, Vec::new())
            }
            Loaded::Oversized { path, size } => {
                let file = MigrationFile::from_text(&path, "");
                let mut report = report_for(&file, 0, Vec::new());
                report.checksum = String::new();
                report.advices = self.oversized(size);
                report
            }
        }
    }

    fn oversized(&self, size: u64) -> Vec<Advice> {
        let rule = &rules::STATEMENT_MAXIMUM_SQL_SIZE;
        let level = self
            .policy
            .enabled(rule.name)
            .map_or(Level::Warning, |r| r.level);
        let limit = self.size_limit();
        vec![Advice {
            rule: rule.name.into(),
            level,
            code: rule.code,
            title: rule.title.into(),
            content: format!(
                "The file is {size} bytes, over the review limit of {limit} bytes, so it was not reviewed; \
                 split it into smaller migrations or raise {} `number` (MiB)",
                rule.name
            ),
            line: 1,
            column: 1,
            end_line: 1,
            end_column: 1,
        }]
    }

    fn review_file(&mut self, file: &MigrationFile, parsed: ParsedFile) -> FileReport {
        let text = file.text.as_str();
        let lines = LineIndex::new(text);
        let mut sink = Sink {
            text,
            lines: &lines,
            advices: Vec::new(),
        };

        for error in &parsed.errors {
            sink.push_raw(
                SYNTAX_ERROR,
                Level::Error,
                SYNTAX_ERROR_CODE,
                "Syntax error",
                format!("Syntax error: {}; fix the statement, the rules still checked the statements that parse", error.message),
                error.span,
            );
        }

        // Directives: problems, unknown rule names, and what they suppress.
        let directive_rule = self
            .policy
            .enabled(rules::INVALID_DIRECTIVE.name)
            .map(|r| r.level);
        let mut file_ignores: HashSet<&'static str> = HashSet::new();
        let mut statement_ignores: Vec<(u32, HashSet<&'static str>)> = Vec::new();
        for problem in &file.directives.problems {
            if let Some(level) = directive_rule {
                sink.push_at(
                    &rules::INVALID_DIRECTIVE,
                    level,
                    problem.message.clone(),
                    problem.line,
                    problem.column,
                );
            }
        }
        for ignore in &file.directives.ignores {
            let mut names = HashSet::new();
            for rule_ref in &ignore.rules {
                match rules::find(&rule_ref.name) {
                    Some(rule) => {
                        names.insert(rule.name);
                    }
                    None if rule_ref.name.eq_ignore_ascii_case(SYNTAX_ERROR) => {}
                    None => {
                        if let Some(level) = directive_rule {
                            sink.push_at(
                                &rules::INVALID_DIRECTIVE,
                                level,
                                format!(
                                    "Unknown rule \"{}\" in an ignore directive, so it suppresses nothing; \
                                     run `rollgate rules` for the valid names",
                                    rule_ref.name
                                ),
                                ignore.line,
                                rule_ref.column,
                            );
                        }
                    }
                }
            }
            match ignore.scope {
                IgnoreScope::File => file_ignores.extend(names),
                IgnoreScope::NextStatement => statement_ignores.push((ignore.offset, names)),
            }
        }

        let statements = &parsed.statements;
        let file_cx = FileCx {
            path: &file.path,
            text,
            is_dml: file.change_type == ChangeType::Dml,
            no_transaction: file.directives.no_transaction,
            statements,
        };
        let mut state = FileState {
            in_transaction: !file_cx.no_transaction,
            ..FileState::default()
        };
        self.catalog.begin_file();
        let walk_through = self
            .policy
            .enabled(rules::WALK_THROUGH_CHECK.name)
            .map(|r| r.level);
        let mut findings = Vec::new();

        for (index, statement) in statements.iter().enumerate() {
            // An `ignore` applies to the statement that contains the
            // directive, or else to the first one after it.
            let ignored = |rule: &RuleDef| {
                file_ignores.contains(rule.name)
                    || statement_ignores.iter().any(|(offset, names)| {
                        names.contains(rule.name)
                            && statement.span.end > *offset
                            && (index == 0 || statements[index - 1].span.end <= *offset)
                    })
            };
            for enabled in &self.policy.rules {
                if ignored(enabled.rule) {
                    continue;
                }
                let cx = RuleCx {
                    file: &file_cx,
                    index,
                    statement,
                    catalog: &self.catalog,
                    options: &enabled.options,
                    state: &state,
                };
                (enabled.rule.check)(&cx, &mut findings);
                for finding in findings.drain(..) {
                    sink.push_raw(
                        enabled.rule.name,
                        enabled.level,
                        finding.code.unwrap_or(enabled.rule.code),
                        enabled.rule.title,
                        finding.message,
                        finding.span,
                    );
                }
            }
            let problems = self.catalog.apply(statement);
            if let Some(level) = walk_through.filter(|_| !ignored(&rules::WALK_THROUGH_CHECK)) {
                for problem in problems {
                    let rule = &rules::WALK_THROUGH_CHECK;
                    sink.push_raw(
                        rule.name,
                        level,
                        rule.code,
                        rule.title,
                        problem.message(),
                        problem.span,
                    );
                }
            }
            advance(&mut state, &statement.kind, file_cx.no_transaction);
        }

        report_for(file, statements.len(), sink.finish())
    }
}

/// Updates the file state after a statement ran.
fn advance(state: &mut FileState, kind: &StatementKind, no_transaction: bool) {
    match kind {
        StatementKind::Set(set) => {
            let enabled = !matches!(set.value.trim(), "0" | "" | "default" | "DEFAULT");
            match set.name.as_str() {
                "lock_timeout" => state.lock_timeout_set = enabled,
                "statement_timeout" => state.statement_timeout_set = enabled,
                _ => {}
            }
        }
        StatementKind::Reset { name } => match name.as_str() {
            "lock_timeout" => state.lock_timeout_set = false,
            "statement_timeout" => state.statement_timeout_set = false,
            "all" => {
                state.lock_timeout_set = false;
                state.statement_timeout_set = false;
            }
            _ => {}
        },
        StatementKind::Begin => {
            state.in_explicit_transaction = true;
            state.in_transaction = true;
        }
        StatementKind::Commit | StatementKind::Rollback => {
            state.in_explicit_transaction = false;
            state.in_transaction = !no_transaction;
        }
        _ => {}
    }
}

fn report_for(file: &MigrationFile, statements: usize, advices: Vec<Advice>) -> FileReport {
    FileReport {
        path: file.path.clone(),
        version: file.version.as_ref().map(|v| v.as_str().to_string()),
        change_type: file.change_type.as_str().to_string(),
        checksum: file.checksum.as_str().to_string(),
        statements,
        advices,
        source: Some(Arc::from(file.text.as_str())),
    }
}

/// Collects advice, turning spans into line and column numbers.
struct Sink<'a> {
    text: &'a str,
    lines: &'a LineIndex,
    advices: Vec<Advice>,
}

impl Sink<'_> {
    fn push_raw(
        &mut self,
        rule: &str,
        level: Level,
        code: u32,
        title: &str,
        content: String,
        span: Span,
    ) {
        let (line, column) = self.lines.line_col(self.text, span.start);
        let (end_line, end_column) = self.lines.line_col(self.text, span.end.max(span.start));
        self.advices.push(Advice {
            rule: rule.to_string(),
            level,
            code,
            title: title.to_string(),
            content,
            line,
            column,
            end_line,
            end_column,
        });
    }

    fn push_at(&mut self, rule: &RuleDef, level: Level, content: String, line: u32, column: u32) {
        let end_column = column
            + self
                .lines
                .line_text(self.text, line)
                .chars()
                .count()
                .saturating_sub(column as usize - 1) as u32;
        self.advices.push(Advice {
            rule: rule.name.to_string(),
            level,
            code: rule.code,
            title: rule.title.to_string(),
            content,
            line,
            column,
            end_line: line,
            end_column: end_column.max(column),
        });
    }

    /// Advice in file order; at one position, errors first.
    fn finish(mut self) -> Vec<Advice> {
        self.advices.sort_by(|a, b| {
            (a.line, a.column, std::cmp::Reverse(a.level), &a.rule).cmp(&(
                b.line,
                b.column,
                std::cmp::Reverse(b.level),
                &b.rule,
            ))
        });
        self.advices.dedup();
        self.advices
    }
}

/// Reviews in-memory SQL text as one file named `path`: the entry point for
/// tests and for the server's check of a single statement.
pub fn review_text(policy: &Policy, catalog: Catalog, path: &str, text: &str) -> FileReport {
    let mut reviewer = Reviewer::new(policy, catalog);
    let file = MigrationFile::from_text(path, text);
    let loaded = if text.trim_start_matches('\u{feff}').trim().is_empty() {
        Loaded::Empty { path: path.into() }
    } else {
        Loaded::File(file)
    };
    reviewer
        .review_batch(vec![loaded])
        .pop()
        .expect("one file in, one report out")
}
