//! `TABLE_DROP`: dropping a table breaks clients and loses data.

use rollgate_sql::ast::StatementKind;

use super::common::table_is_new;
use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "TABLE_DROP",
    legacy_name: None,
    code: 3009,
    category: Category::Safety,
    title: "Prohibit dropping tables",
    description: "Flags DROP TABLE (squawk: ban-drop-table). Application code that still uses the \
        table fails, including the previous version running during the deploy, and the table's data \
        is lost. Stop using the table in the application first (and keep a backup), then drop it in \
        a later migration. Tables created earlier in the same file are not flagged. Off in every \
        template because SCHEMA_BACKWARD_COMPATIBILITY already reports dropped tables; enable it for \
        squawk's behaviour.",
    levels: levels(OFF, OFF, OFF),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::DropTable(drop) = &cx.statement.kind else {
        return;
    };
    for name in &drop.names {
        if table_is_new(cx, name) {
            continue;
        }
        out.push(Finding::new(
            name.span,
            format!(
                "Dropping table \"{}\" breaks application code that still uses it, and its data is lost; stop \
                 using the table in the application first (and keep a backup), then drop it in a later migration",
                name.display()
            ),
        ));
    }
}
