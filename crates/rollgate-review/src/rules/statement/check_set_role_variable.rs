//! `STATEMENT_CHECK_SET_ROLE_VARIABLE`: a file starts with `SET ROLE`.

use rollgate_sql::ast::StatementKind;

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "STATEMENT_CHECK_SET_ROLE_VARIABLE",
    legacy_name: Some("statement.check-set-role-variable"),
    code: 217,
    category: Category::Statement,
    title: "Check if Set Role statement at the beginning",
    description: "Flags, once per file, the first statement that is not a SET when no SET ROLE \
        ran before it. Without SET ROLE the migration creates objects owned by whichever user \
        the deployer connects as, so ownership and privileges differ between environments. \
        Start the file with `SET ROLE app_owner;` (other SET statements and BEGIN may come \
        before it). A file holding only SET statements is not flagged.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    if is_preamble(&cx.statement.kind) {
        return;
    }
    let previous = cx.previous();
    // Only the first statement after the preamble is checked.
    if !previous.iter().all(|s| is_preamble(&s.kind)) {
        return;
    }
    let has_role = previous
        .iter()
        .any(|s| matches!(&s.kind, StatementKind::Set(set) if set.name == "role"));
    if has_role {
        return;
    }
    out.push(Finding::new(
        cx.statement.span,
        "No SET ROLE before the first statement of the file, so the objects it creates are owned by whichever user runs the migration; start the file with SET ROLE <owner role>;",
    ));
}

/// Statements that may come before `SET ROLE`.
fn is_preamble(kind: &StatementKind) -> bool {
    matches!(kind, StatementKind::Set(_) | StatementKind::Begin)
}
