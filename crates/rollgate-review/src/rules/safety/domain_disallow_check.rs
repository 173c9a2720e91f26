//! `DOMAIN_DISALLOW_CHECK`: constraints belong on table columns, not on
//! domains.

use rollgate_sql::ast::StatementKind;
use rollgate_sql::catalog::key;

use crate::rule::*;

pub(crate) static RULE: RuleDef = RuleDef {
    name: "DOMAIN_DISALLOW_CHECK",
    legacy_name: None,
    code: 3015,
    category: Category::Safety,
    title: "Prohibit constraints on domains",
    description: "Flags CREATE DOMAIN ... CHECK and ALTER DOMAIN ... ADD CONSTRAINT (squawk: \
        ban-create-domain-with-constraint and ban-alter-domain-with-add-constraint). A domain's \
        constraint applies to every column of that type in every table at once: adding or changing \
        one checks all those columns while blocking writes to their tables, and it cannot be rolled \
        out one table at a time. Put CHECK constraints on the table columns instead; those can be \
        added NOT VALID and validated without blocking writes. ALTER DOMAIN on a domain created \
        earlier in the same file is not flagged.",
    levels: levels(OFF, W, W),
    payload: PayloadDefaults::NONE,
    check,
};

fn check(cx: &RuleCx<'_>, out: &mut Vec<Finding>) {
    match &cx.statement.kind {
        StatementKind::CreateDomain {
            name,
            has_check: true,
            check_span,
        } => out.push(Finding::new(
            check_span.unwrap_or(cx.statement.span),
            format!(
                "Domain \"{}\" is created with a CHECK constraint; changing a domain's constraints later checks \
                 every column of that type in every table while blocking writes to them; use the base type \
                 (or a domain without CHECK) and put the CHECK constraint on the table columns",
                name.display()
            ),
        )),
        StatementKind::AlterDomainAddConstraint {
            name,
            constraint_span,
        } => {
            let domain_key = key(name);
            let created_in_file = cx.previous().iter().any(|statement| {
                matches!(&statement.kind, StatementKind::CreateDomain { name: created, .. } if key(created) == domain_key)
            });
            if created_in_file {
                return;
            }
            out.push(Finding::new(
                *constraint_span,
                format!(
                    "Adding a constraint to domain \"{}\" checks every column of that type in every table while \
                     blocking writes to them; put a CHECK constraint on each table column instead (ADD \
                     CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT)",
                    name.display()
                ),
            ));
        }
        _ => {}
    }
}
