//! `DATABASE_DROP`: dropping a database destroys everything in it.

use rollgate_sql::ast::StatementKind;

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "DATABASE_DROP",
    legacy_name: None,
    code: 3010,
    category: Category::Safety,
    title: "Prohibit dropping databases",
    description: "Flags DROP DATABASE (squawk: ban-drop-database). It deletes every table and row of \
        the database irreversibly and breaks every application that connects to it; such a step \
        belongs in a deliberate manual operation, not in a migration. A database created earlier in \
        the same file is not flagged. Off in every template because SCHEMA_BACKWARD_COMPATIBILITY \
        already reports dropped databases; enable it for squawk's behaviour.",
    levels: levels(OFF, OFF, OFF),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    let StatementKind::DropDatabase { name, .. } = &cx.statement.kind else {
        return;
    };
    let created_in_file = cx.previous().iter().any(|statement| {
        matches!(&statement.kind, StatementKind::CreateDatabase { name: created, .. } if created.name == name.name)
    });
    if created_in_file {
        return;
    }
    out.push(Finding::new(
        name.span,
        format!(
            "Dropping database \"{}\" deletes all of its data irreversibly and breaks every application \
             connected to it; drop databases by hand in a deliberate operation, not in a migration",
            name.name
        ),
    ));
}
