//! PostgreSQL front end: squawk's lossless, error-recovering parser, lowered
//! into [`crate::ast`].
//!
//! The lowering walks squawk's untyped syntax tree by node kind. It is
//! deliberately forgiving: a node it does not understand becomes
//! `StatementKind::Other`, `AlterTableActionKind::Other` or `ExprKind::Other`,
//! never a panic and never a dropped statement. Only this module knows
//! squawk's tree; rules see the statement model alone.

use squawk_syntax::{SourceFile, SyntaxKind as K, SyntaxNode, SyntaxToken};

use crate::ast::*;
use crate::{ParsedFile, SyntaxError};

/// Parses a PostgreSQL file into statements and syntax errors.
pub fn parse(text: &str) -> ParsedFile {
    let parse = SourceFile::parse(text);
    let root = parse.syntax_node();
    let errors = parse
        .errors()
        .into_iter()
        .map(|error| SyntaxError {
            message: error.message().to_string(),
            span: Span::new(error.range().start().into(), error.range().end().into()),
        })
        .collect();
    let statements = root
        .children()
        .filter(|node| node.kind() != K::ERROR || node.first_token().is_some())
        .filter_map(|node| statement(&node))
        .collect();
    ParsedFile { statements, errors }
}

fn statement(node: &SyntaxNode) -> Option<Statement> {
    // A lone error node that holds nothing but punctuation is noise; the
    // syntax error already reports it.
    if node.kind() == K::ERROR && keyword(node).is_empty() {
        return None;
    }
    let kind = match node.kind() {
        K::CREATE_TABLE => StatementKind::CreateTable(create_table(node)),
        K::CREATE_TABLE_AS | K::SELECT_INTO => {
            let mut table = create_table(node);
            table.as_query = true;
            StatementKind::CreateTable(table)
        }
        K::ALTER_TABLE => StatementKind::AlterTable(alter_table(node)),
        K::DROP_TABLE => StatementKind::DropTable(drop_objects(node)),
        K::CREATE_INDEX => StatementKind::CreateIndex(create_index(node)),
        K::DROP_INDEX => StatementKind::DropIndex(drop_index(node)),
        K::TRUNCATE => StatementKind::Truncate(truncate(node)),
        K::INSERT => StatementKind::Insert(insert(node)),
        K::UPDATE => StatementKind::Update(update(node)),
        K::DELETE => StatementKind::Delete(delete(node)),
        K::SELECT | K::COMPOUND_SELECT | K::PAREN_SELECT | K::VALUES | K::TABLE => {
            StatementKind::Select(select(node))
        }
        K::SET => set(node),
        K::SET_ROLE => StatementKind::Set(SetVariable {
            name: "role".into(),
            value: child(node, K::ROLE_REF)
                .map(|n| unquote(&n.text().to_string()))
                .unwrap_or_default(),
            local: has_token(node, K::LOCAL_KW),
        }),
        K::SET_SESSION_AUTH => StatementKind::Set(SetVariable {
            name: "session_authorization".into(),
            value: String::new(),
            local: false,
        }),
        K::RESET => StatementKind::Reset {
            name: node
                .descendants()
                .find(|n| n.kind() == K::CONFIG_PARAMETER_REF)
                .map(|n| n.text().to_string().to_lowercase())
                .unwrap_or_else(|| "all".into()),
        },
        K::BEGIN => StatementKind::Begin,
        K::COMMIT_TRANSACTION => StatementKind::Commit,
        K::ROLLBACK_TRANSACTION => StatementKind::Rollback,
        K::CREATE_SCHEMA => StatementKind::CreateSchema {
            name: node
                .descendants()
                .find(|n| n.kind() == K::SCHEMA)
                .and_then(|n| first_ident(&n))
                .unwrap_or_else(|| missing_ident(node)),
            if_not_exists: child(node, K::IF_NOT_EXISTS).is_some(),
        },
        K::DROP_SCHEMA => StatementKind::DropSchema(drop_objects(node)),
        K::CREATE_DATABASE => StatementKind::CreateDatabase {
            name: child(node, K::DATABASE)
                .and_then(|n| first_ident(&n))
                .unwrap_or_else(|| missing_ident(node)),
            options: database_options(node),
        },
        K::DROP_DATABASE => StatementKind::DropDatabase {
            name: child(node, K::DATABASE_REF)
                .and_then(|n| first_ident(&n))
                .unwrap_or_else(|| missing_ident(node)),
            if_exists: child(node, K::IF_EXISTS).is_some(),
        },
        K::CREATE_TYPE => match child(node, K::ENUM_TYPE) {
            Some(enum_type) => StatementKind::CreateEnum {
                name: first_name(node, &[K::TYPE_NAME]),
                values: enum_type
                    .descendants()
                    .filter(|n| n.kind() == K::VARIANT)
                    .map(|n| unquote(n.text().to_string().trim()))
                    .collect(),
            },
            None => other(node),
        },
        K::ALTER_TYPE => match child(node, K::ADD_VALUE) {
            Some(add) => StatementKind::AlterEnumAddValue(AlterEnumAddValue {
                name: first_name(node, &[K::TYPE_NAME_REF]),
                value: child(&add, K::LITERAL)
                    .map(|n| unquote(&n.text().to_string()))
                    .unwrap_or_default(),
                positioned: child(&add, K::BEFORE_VALUE).is_some()
                    || child(&add, K::AFTER_VALUE).is_some(),
                if_not_exists: child(&add, K::IF_NOT_EXISTS).is_some(),
            }),
            None => other(node),
        },
        K::CREATE_VIEW | K::CREATE_MATERIALIZED_VIEW => StatementKind::CreateView(CreateView {
            name: first_name(node, &[K::VIEW]),
            or_replace: child(node, K::OR_REPLACE).is_some(),
            materialized: node.kind() == K::CREATE_MATERIALIZED_VIEW,
            columns: child(node, K::COLUMN_LIST)
                .map(|list| list.children().filter_map(|n| first_ident(&n)).collect())
                .unwrap_or_default(),
            query: node
                .children()
                .find(|n| is_select_kind(n.kind()))
                .map(|n| select(&n)),
        }),
        K::DROP_VIEW | K::DROP_MATERIALIZED_VIEW => StatementKind::DropView(drop_objects(node)),
        K::CREATE_SEQUENCE => StatementKind::CreateSequence {
            name: first_name(node, &[K::SEQUENCE]),
            if_not_exists: child(node, K::IF_NOT_EXISTS).is_some(),
        },
        K::DROP_SEQUENCE => StatementKind::DropSequence(drop_objects(node)),
        K::CREATE_FUNCTION | K::CREATE_PROCEDURE => StatementKind::CreateFunction {
            name: node
                .children()
                .find(|n| n.descendants().any(|d| d.kind() == K::PATH))
                .map(|n| object_name(&n))
                .unwrap_or_else(|| missing_name(node)),
            or_replace: child(node, K::OR_REPLACE).is_some(),
        },
        K::CREATE_TRIGGER => StatementKind::CreateTrigger {
            name: node
                .children()
                .find_map(|n| {
                    if n.kind() == K::TRIGGER {
                        first_ident(&n)
                    } else {
                        None
                    }
                })
                .unwrap_or_else(|| missing_ident(node)),
            table: child(node, K::ON_RELATION)
                .and_then(|on| {
                    on.children()
                        .find(|n| matches!(n.kind(), K::RELATION_NAME_REF | K::PATH_REF))
                })
                .map(|n| object_name(&n)),
        },
        K::CREATE_DOMAIN => {
            let check = child(node, K::CHECK_CONSTRAINT);
            StatementKind::CreateDomain {
                name: first_name(node, &[K::DOMAIN]),
                has_check: check.is_some(),
                check_span: check.map(|n| span(&n)),
            }
        }
        K::ALTER_DOMAIN => match child(node, K::ADD_CONSTRAINT) {
            Some(add) => StatementKind::AlterDomainAddConstraint {
                name: first_name(node, &[K::DOMAIN_REF]),
                constraint_span: span(&add),
            },
            None => other(node),
        },
        K::COMMENT_ON => StatementKind::Comment(comment_on(node)),
        K::REINDEX => StatementKind::Reindex {
            concurrently: node.descendants_with_tokens().any(|e| {
                matches!(
                    e.kind(),
                    K::CONCURRENTLY_KW | K::REINDEX_OPTION_CONCURRENTLY
                )
            }),
            target_span: node
                .children()
                .find(|n| kind_class(n.kind()) & REINDEX_TARGET_KIND != 0)
                .map_or(span(node), |n| span(&n)),
        },
        K::VACUUM => StatementKind::Vacuum {
            full: node
                .descendants_with_tokens()
                .any(|e| e.kind() == K::FULL_KW),
        },
        K::CLUSTER | K::CLUSTER_LEGACY => StatementKind::Cluster,
        K::REFRESH => StatementKind::RefreshMaterializedView {
            name: first_name(node, &[K::VIEW_REF, K::PATH_REF]),
            concurrently: has_token(node, K::CONCURRENTLY_KW),
        },
        _ => other(node),
    };
    Some(Statement {
        kind,
        span: span(node),
    })
}

fn other(node: &SyntaxNode) -> StatementKind {
    StatementKind::Other(OtherStatement {
        keyword: keyword(node),
    })
}

/// The leading keywords of a node, upper-cased: `ALTER SEQUENCE`.
fn keyword(node: &SyntaxNode) -> String {
    let words: Vec<String> = node
        .descendants_with_tokens()
        .filter_map(|e| e.into_token())
        .filter(|t| !t.kind().is_trivia())
        .take(3)
        .take_while(|t| t.kind().is_keyword())
        .map(|t| t.text().to_uppercase())
        .collect();
    words.join(" ")
}

// ---------------------------------------------------------------- tables

fn create_table(node: &SyntaxNode) -> CreateTable {
    let mut table = CreateTable {
        name: first_name(node, &[K::TABLE_NAME, K::PATH]),
        if_not_exists: child(node, K::IF_NOT_EXISTS).is_some(),
        temporary: child(node, K::TEMP).is_some()
            || has_token(node, K::TEMP_KW)
            || has_token(node, K::TEMPORARY_KW),
        unlogged: has_token(node, K::UNLOGGED_KW) || child(node, K::UNLOGGED).is_some(),
        columns: Vec::new(),
        constraints: Vec::new(),
        partition_by: child(node, K::PARTITION_BY).map(|n| span(&n)),
        partition_of: child(node, K::PARTITION_OF)
            .map(|n| first_name(&n, &[K::TABLE_NAME_REF, K::PATH_REF])),
        as_query: false,
        inherits: child(node, K::INHERITS)
            .map(|n| {
                n.descendants()
                    .filter(|d| d.kind() == K::PATH_REF && !is_nested_path(d))
                    .map(|d| object_name(&d))
                    .collect()
            })
            .unwrap_or_default(),
    };
    if let Some(args) = child(node, K::TABLE_ARG_LIST) {
        for item in args.children() {
            match item.kind() {
                K::COLUMN => table.columns.push(column_def(&item)),
                K::LIKE_CLAUSE => table.as_query = true,
                kind => {
                    if let Some(constraint) = table_constraint(&item, kind) {
                        table.constraints.push(constraint);
                    }
                }
            }
        }
    }
    table
}

fn column_def(node: &SyntaxNode) -> ColumnDef {
    let name = node
        .children()
        .find(|n| n.kind() == K::COLUMN_NAME)
        .and_then(|n| first_ident(&n))
        .unwrap_or_else(|| missing_ident(node));
    let data_type = node
        .children()
        .find(|n| is_type_kind(n.kind()))
        .map(|n| data_type(&n));
    let mut constraints = Vec::new();
    let mut collation = None;
    for item in node.children() {
        let name = child(&item, K::CONSTRAINT_NAME_CLAUSE)
            .and_then(|c| c.descendants().find(|d| d.kind() == K::CONSTRAINT_NAME))
            .and_then(|n| first_ident(&n));
        let kind = match item.kind() {
            K::NOT_NULL_CONSTRAINT => ColumnConstraintKind::NotNull,
            K::NULL_CONSTRAINT => ColumnConstraintKind::Null,
            K::DEFAULT_CONSTRAINT => ColumnConstraintKind::Default(
                first_expr(&item).unwrap_or_else(|| empty_expr(&item)),
            ),
            K::PRIMARY_KEY_CONSTRAINT => ColumnConstraintKind::PrimaryKey,
            K::UNIQUE_CONSTRAINT => ColumnConstraintKind::Unique,
            K::CHECK_CONSTRAINT => ColumnConstraintKind::Check {
                expr: first_expr(&item).unwrap_or_else(|| empty_expr(&item)),
                no_inherit: has_token(&item, K::INHERIT_KW),
            },
            K::REFERENCES_CONSTRAINT => {
                ColumnConstraintKind::References(foreign_key_target(&item, false))
            }
            K::GENERATED_CONSTRAINT => {
                if let Some(stored) = child(&item, K::GENERATED_STORED) {
                    ColumnConstraintKind::Generated(Generated::Stored(
                        first_expr(&stored).unwrap_or_else(|| empty_expr(&stored)),
                    ))
                } else {
                    ColumnConstraintKind::Generated(Generated::Identity)
                }
            }
            K::COLLATE => {
                collation = item
                    .children()
                    .next()
                    .map(|n| unquote(&n.text().to_string()));
                continue;
            }
            _ => continue,
        };
        constraints.push(ColumnConstraint {
            name,
            kind,
            span: span(&item),
        });
    }
    ColumnDef {
        name,
        data_type,
        constraints,
        collation,
        span: span(node),
    }
}

fn table_constraint(node: &SyntaxNode, kind: K) -> Option<TableConstraint> {
    let name = child(node, K::CONSTRAINT_NAME_CLAUSE)
        .and_then(|c| c.descendants().find(|d| d.kind() == K::CONSTRAINT_NAME))
        .and_then(|n| first_ident(&n));
    let using_index = || child(node, K::USING_INDEX_NAME).and_then(|n| last_ident(&n));
    let kind = match kind {
        K::PRIMARY_KEY_CONSTRAINT => TableConstraintKind::PrimaryKey {
            columns: column_refs(node),
            using_index: using_index(),
        },
        K::UNIQUE_CONSTRAINT => TableConstraintKind::Unique {
            columns: column_refs(node),
            using_index: using_index(),
        },
        K::FOREIGN_KEY_CONSTRAINT => {
            let columns = child(node, K::FOREIGN_KEY_COLUMN_LIST)
                .map(|n| column_refs(&n))
                .unwrap_or_default();
            TableConstraintKind::ForeignKey {
                columns,
                target: foreign_key_target(node, true),
            }
        }
        K::CHECK_CONSTRAINT => TableConstraintKind::Check {
            expr: first_expr(node).unwrap_or_else(|| empty_expr(node)),
        },
        K::EXCLUDE_CONSTRAINT => TableConstraintKind::Exclude,
        _ => return None,
    };
    Some(TableConstraint {
        name,
        kind,
        not_valid: child(node, K::NOT_VALID).is_some(),
        span: span(node),
    })
}

/// `REFERENCES t (cols) ON DELETE ...`; for a table-level `FOREIGN KEY`, the
/// referenced columns are the second column list.
fn foreign_key_target(node: &SyntaxNode, table_level: bool) -> ForeignKeyTarget {
    let table = child(node, K::TABLE_NAME_REF)
        .or_else(|| child(node, K::PATH_REF))
        .map(|n| object_name(&n))
        .unwrap_or_else(|| missing_name(node));
    let columns = if table_level {
        node.children()
            .filter(|n| n.kind() == K::FOREIGN_KEY_COLUMN_LIST)
            .nth(1)
            .map(|n| column_refs(&n))
            .unwrap_or_default()
    } else {
        node.children()
            .filter(|n| n.kind() == K::COLUMN_NAME_REF)
            .filter_map(|n| first_ident(&n))
            .chain(
                node.children()
                    .filter(|n| n.kind() == K::FOREIGN_KEY_COLUMN_LIST)
                    .flat_map(|n| column_refs(&n)),
            )
            .collect()
    };
    let on_delete_node = child(node, K::ON_DELETE_ACTION);
    ForeignKeyTarget {
        table,
        columns,
        on_delete: on_delete_node.as_ref().and_then(referential_action),
        on_update: child(node, K::ON_UPDATE_ACTION)
            .as_ref()
            .and_then(referential_action),
        on_delete_span: on_delete_node.map(|n| span(&n)),
    }
}

fn referential_action(node: &SyntaxNode) -> Option<ReferentialAction> {
    node.children().find_map(|n| match n.kind() {
        K::CASCADE => Some(ReferentialAction::Cascade),
        K::RESTRICT => Some(ReferentialAction::Restrict),
        K::NO_ACTION => Some(ReferentialAction::NoAction),
        K::SET_NULL_COLUMNS => Some(ReferentialAction::SetNull),
        K::SET_DEFAULT_COLUMNS => Some(ReferentialAction::SetDefault),
        _ => None,
    })
}

fn alter_table(node: &SyntaxNode) -> AlterTable {
    let relation = child(node, K::TABLE_RELATION_NAME);
    let name = relation
        .as_ref()
        .map(|r| first_name(r, &[K::TABLE_NAME_REF, K::PATH_REF]))
        .unwrap_or_else(|| missing_name(node));
    let actions = node
        .children()
        .filter(|n| !matches!(n.kind(), K::TABLE_RELATION_NAME | K::IF_EXISTS))
        .map(|n| AlterTableAction {
            kind: alter_table_action(&n),
            span: span(&n),
        })
        .collect();
    AlterTable {
        name,
        if_exists: child(node, K::IF_EXISTS).is_some(),
        only: relation.is_some_and(|r| has_token(&r, K::ONLY_KW)),
        actions,
    }
}

fn alter_table_action(node: &SyntaxNode) -> AlterTableActionKind {
    let column_ref = || {
        child(node, K::COLUMN_NAME_REF)
            .and_then(|n| first_ident(&n))
            .unwrap_or_else(|| missing_ident(node))
    };
    match node.kind() {
        K::ADD_COLUMN => AlterTableActionKind::AddColumn {
            column: column_def(node),
            if_not_exists: child(node, K::IF_NOT_EXISTS).is_some(),
        },
        K::DROP_COLUMN => AlterTableActionKind::DropColumn {
            name: column_ref(),
            if_exists: child(node, K::IF_EXISTS).is_some(),
            cascade: child(node, K::CASCADE).is_some(),
        },
        K::ALTER_COLUMN => {
            let column = column_ref();
            let Some(option) = node.children().find(|n| n.kind() != K::COLUMN_NAME_REF) else {
                return AlterTableActionKind::Other {
                    keyword: keyword(node),
                };
            };
            match option.kind() {
                K::SET_TYPE => AlterTableActionKind::AlterColumnType {
                    column,
                    data_type: option
                        .children()
                        .find(|n| is_type_kind(n.kind()))
                        .map(|n| data_type(&n)),
                    using: child(&option, K::USING_EXPR).and_then(|u| first_expr(&u)),
                },
                K::SET_NOT_NULL => AlterTableActionKind::SetNotNull { column },
                K::DROP_NOT_NULL => AlterTableActionKind::DropNotNull { column },
                K::SET_DEFAULT => AlterTableActionKind::SetDefault {
                    column,
                    expr: first_expr(&option).unwrap_or_else(|| empty_expr(&option)),
                },
                K::DROP_DEFAULT => AlterTableActionKind::DropDefault { column },
                _ => AlterTableActionKind::Other {
                    keyword: format!("ALTER COLUMN {}", keyword(&option)),
                },
            }
        }
        K::ADD_CONSTRAINT => match node.children().find_map(|n| table_constraint(&n, n.kind())) {
            Some(mut constraint) => {
                constraint.not_valid |= child(node, K::NOT_VALID).is_some();
                AlterTableActionKind::AddConstraint(constraint)
            }
            None => AlterTableActionKind::Other {
                keyword: keyword(node),
            },
        },
        K::VALIDATE_CONSTRAINT => AlterTableActionKind::ValidateConstraint {
            name: child(node, K::CONSTRAINT_NAME_REF)
                .and_then(|n| last_ident(&n))
                .unwrap_or_else(|| missing_ident(node)),
        },
        K::DROP_CONSTRAINT => AlterTableActionKind::DropConstraint {
            name: child(node, K::CONSTRAINT_NAME_REF)
                .and_then(|n| last_ident(&n))
                .unwrap_or_else(|| missing_ident(node)),
            if_exists: child(node, K::IF_EXISTS).is_some(),
            cascade: child(node, K::CASCADE).is_some(),
        },
        K::RENAME_COLUMN => AlterTableActionKind::RenameColumn {
            from: column_ref(),
            to: child(node, K::COLUMN_NAME)
                .and_then(|n| first_ident(&n))
                .unwrap_or_else(|| missing_ident(node)),
        },
        K::RENAME_CONSTRAINT => AlterTableActionKind::RenameConstraint {
            from: child(node, K::CONSTRAINT_NAME_REF)
                .and_then(|n| last_ident(&n))
                .unwrap_or_else(|| missing_ident(node)),
            to: child(node, K::CONSTRAINT_NAME)
                .and_then(|n| first_ident(&n))
                .unwrap_or_else(|| missing_ident(node)),
        },
        K::TABLE_RENAME_TO => AlterTableActionKind::RenameTable {
            to: node
                .children()
                .find_map(|n| last_ident(&n))
                .unwrap_or_else(|| missing_ident(node)),
        },
        K::SET_SCHEMA => AlterTableActionKind::SetSchema {
            schema: node
                .children()
                .find_map(|n| last_ident(&n))
                .unwrap_or_else(|| missing_ident(node)),
        },
        K::ATTACH_PARTITION => AlterTableActionKind::AttachPartition {
            partition: first_name(node, &[K::TABLE_NAME_REF, K::PATH_REF]),
        },
        K::DETACH_PARTITION => AlterTableActionKind::DetachPartition {
            partition: first_name(node, &[K::TABLE_NAME_REF, K::PATH_REF]),
            concurrently: node
                .descendants_with_tokens()
                .any(|e| e.kind() == K::CONCURRENTLY_KW),
        },
        K::OWNER_TO => AlterTableActionKind::OwnerTo,
        _ => AlterTableActionKind::Other {
            keyword: keyword(node),
        },
    }
}

fn drop_objects(node: &SyntaxNode) -> DropObjects {
    let cascade = child(node, K::CASCADE);
    DropObjects {
        names: node
            .children()
            .filter(|n| !matches!(n.kind(), K::IF_EXISTS | K::CASCADE | K::RESTRICT))
            .filter(|n| {
                n.descendants_with_tokens()
                    .any(|e| e.kind() == K::IDENT || e.kind().is_keyword())
            })
            .map(|n| object_name(&n))
            .collect(),
        if_exists: child(node, K::IF_EXISTS).is_some(),
        cascade: cascade.is_some(),
        cascade_span: cascade.map(|n| span(&n)),
    }
}

fn truncate(node: &SyntaxNode) -> Truncate {
    let cascade = child(node, K::CASCADE);
    Truncate {
        tables: node
            .descendants()
            .filter(|n| n.kind() == K::TABLE_RELATION_NAME)
            .map(|n| first_name(&n, &[K::TABLE_NAME_REF, K::PATH_REF]))
            .collect(),
        cascade: cascade.is_some(),
        cascade_span: cascade.map(|n| span(&n)),
    }
}

// --------------------------------------------------------------- indexes

fn create_index(node: &SyntaxNode) -> CreateIndex {
    let columns = child(node, K::PARTITION_ITEM_LIST)
        .map(|list| {
            list.children()
                .filter(|n| n.kind() == K::PARTITION_ITEM)
                .map(|item| {
                    let expr = first_expr(&item).unwrap_or_else(|| empty_expr(&item));
                    let column = match &expr.kind {
                        ExprKind::Column(name) => Some(name.clone()),
                        _ => None,
                    };
                    IndexElement {
                        column,
                        expr,
                        span: span(&item),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    CreateIndex {
        name: child(node, K::INDEX).map(|n| object_name(&n)),
        table: child(node, K::TABLE_RELATION_NAME)
            .map(|n| first_name(&n, &[K::TABLE_NAME_REF, K::PATH_REF]))
            .unwrap_or_else(|| missing_name(node)),
        unique: has_token(node, K::UNIQUE_KW),
        concurrently: has_token(node, K::CONCURRENTLY_KW),
        if_not_exists: child(node, K::IF_NOT_EXISTS).is_some(),
        columns,
        method: child(node, K::USING_METHOD)
            .and_then(|n| last_ident(&n))
            .map(|i| i.name),
        where_clause: child(node, K::WHERE_CLAUSE).and_then(|n| first_expr(&n)),
    }
}

fn drop_index(node: &SyntaxNode) -> DropIndex {
    DropIndex {
        names: node
            .children()
            .filter(|n| n.kind() == K::INDEX_REF || n.kind() == K::PATH_REF)
            .map(|n| object_name(&n))
            .collect(),
        concurrently: has_token(node, K::CONCURRENTLY_KW),
        if_exists: child(node, K::IF_EXISTS).is_some(),
        cascade: child(node, K::CASCADE).is_some(),
    }
}

// ------------------------------------------------------------------- DML

fn insert(node: &SyntaxNode) -> Insert {
    let source = if let Some(values) = child(node, K::VALUES) {
        let rows = values.descendants().filter(|n| n.kind() == K::ROW).count();
        InsertSource::Values {
            rows,
            span: span(&values),
        }
    } else if let Some(query) = node.children().find(|n| is_select_kind(n.kind())) {
        InsertSource::Query(Box::new(select(&query)))
    } else {
        InsertSource::DefaultValues
    };
    Insert {
        table: first_name(node, &[K::RELATION_NAME_REF, K::PATH_REF, K::RELATION_NAME]),
        columns: child(node, K::COLUMN_TARGET_LIST)
            .map(|n| column_refs(&n))
            .unwrap_or_default(),
        source,
        on_conflict: child(node, K::ON_CONFLICT_CLAUSE).is_some(),
    }
}

fn update(node: &SyntaxNode) -> Update {
    let mut assignments = Vec::new();
    if let Some(list) = child(node, K::SET_CLAUSE).and_then(|n| child(&n, K::SET_COLUMN_LIST)) {
        for item in list.children() {
            let value = item
                .children()
                .find(|n| {
                    matches!(n.kind(), K::SET_EXPR | K::SET_EXPR_LIST) || is_expr_kind(n.kind())
                })
                .map(|n| expr(&n))
                .unwrap_or_else(|| empty_expr(&item));
            for column in column_refs(&item) {
                assignments.push(Assignment {
                    column,
                    value: value.clone(),
                });
            }
        }
    }
    Update {
        table: first_name(node, &[K::RELATION_NAME, K::RELATION_NAME_REF, K::PATH_REF]),
        assignments,
        where_clause: child(node, K::WHERE_CLAUSE).and_then(|n| first_expr(&n)),
        has_from: child(node, K::FROM_CLAUSE).is_some(),
    }
}

fn delete(node: &SyntaxNode) -> Delete {
    Delete {
        table: first_name(node, &[K::RELATION_NAME, K::RELATION_NAME_REF, K::PATH_REF]),
        where_clause: child(node, K::WHERE_CLAUSE).and_then(|n| first_expr(&n)),
        has_using: child(node, K::USING_CLAUSE).is_some(),
    }
}

fn is_select_kind(kind: K) -> bool {
    matches!(
        kind,
        K::SELECT | K::COMPOUND_SELECT | K::PAREN_SELECT | K::SELECT_INTO | K::VALUES | K::TABLE
    )
}

fn select(node: &SyntaxNode) -> Select {
    let mut result = Select {
        star_targets: Vec::new(),
        from: Vec::new(),
        has_from: false,
        where_clause: None,
        order_by: Vec::new(),
        arms: Vec::new(),
        span: span(node),
    };
    match node.kind() {
        K::COMPOUND_SELECT | K::PAREN_SELECT => {
            result.arms = node
                .children()
                .filter(|n| is_select_kind(n.kind()))
                .map(|n| select(&n))
                .collect();
        }
        _ => {
            if let Some(targets) =
                child(node, K::SELECT_CLAUSE).and_then(|c| child(&c, K::TARGET_LIST))
            {
                for target in targets.children() {
                    let is_star = has_token(&target, K::STAR)
                        || target
                            .children()
                            .any(|c| c.kind() == K::FIELD_EXPR && has_token(&c, K::STAR));
                    if is_star {
                        result.star_targets.push(span(&target));
                    }
                }
            }
            // Common table expressions are named in FROM like tables; they
            // are not tables.
            let ctes: Vec<String> = child(node, K::WITH_CLAUSE)
                .map(|with| {
                    with.descendants()
                        .filter(|n| n.kind() == K::CTE_NAME)
                        .filter_map(|n| first_ident(&n))
                        .map(|i| i.name)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(from) = child(node, K::FROM_CLAUSE) {
                result.has_from = true;
                result.from = from
                    .descendants()
                    .filter(|n| n.kind() == K::RELATION_NAME_REF || n.kind() == K::TABLE_NAME_REF)
                    .map(|n| object_name(&n))
                    .filter(|name| name.schema.is_some() || !ctes.contains(&name.name))
                    .collect();
            }
            result.where_clause = child(node, K::WHERE_CLAUSE).and_then(|n| first_expr(&n));
            if let Some(order) = child(node, K::ORDER_BY_CLAUSE) {
                result.order_by = order
                    .descendants()
                    .filter(|n| n.kind() == K::SORT_BY)
                    .filter_map(|n| first_expr(&n))
                    .collect();
            }
        }
    }
    result
}

// ----------------------------------------------------------------- other

fn set(node: &SyntaxNode) -> StatementKind {
    let local = child(node, K::LOCAL_SCOPE).is_some() || has_token(node, K::LOCAL_KW);
    let Some(config) = child(node, K::SET_CONFIG) else {
        let name = if node
            .descendants_with_tokens()
            .any(|e| e.kind() == K::ZONE_KW)
        {
            "timezone"
        } else {
            ""
        };
        return StatementKind::Set(SetVariable {
            name: name.into(),
            value: String::new(),
            local,
        });
    };
    let name = child(&config, K::CONFIG_PARAMETER_REF)
        .map(|n| n.text().to_string().to_lowercase())
        .unwrap_or_default();
    let value = config
        .children()
        .find(|n| n.kind() != K::CONFIG_PARAMETER_REF)
        .map(|n| {
            n.descendants_with_tokens()
                .filter_map(|e| e.into_token())
                .filter(|t| !t.kind().is_trivia() && !matches!(t.kind(), K::EQ | K::TO_KW))
                .map(|t| unquote(t.text()))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    StatementKind::Set(SetVariable { name, value, local })
}

fn comment_on(node: &SyntaxNode) -> CommentOn {
    let literal = child(node, K::LITERAL);
    let text = literal.as_ref().and_then(|l| {
        let token = l.first_token()?;
        (token.kind() != K::NULL_KW).then(|| unquote(token.text()))
    });
    let target = if let Some(table) = child(node, K::OBJECT_TABLE) {
        CommentTarget::Table(first_name(&table, &[K::TABLE_NAME_REF, K::PATH_REF]))
    } else if let Some(column) = child(node, K::OBJECT_COLUMN) {
        // The reference, not the whole clause: `COLUMN` is a keyword token too.
        let parts = child(&column, K::QUALIFIED_COLUMN_NAME_REF)
            .map(|n| name_parts(&n))
            .unwrap_or_default();
        match parts.split_last() {
            Some((last, rest)) if !rest.is_empty() => {
                let (table_part, schema_part) = (
                    &rest[rest.len() - 1],
                    rest.len().checked_sub(2).map(|i| &rest[i]),
                );
                CommentTarget::Column {
                    table: ObjectName {
                        schema: schema_part.map(|p| p.name.clone()),
                        name: table_part.name.clone(),
                        quoted: table_part.quoted,
                        span: rest[0].span.cover(table_part.span),
                    },
                    column: last.clone(),
                }
            }
            _ => CommentTarget::Other {
                keyword: "COLUMN".into(),
            },
        }
    } else {
        let keyword = node
            .children()
            .next()
            .map(|n| {
                n.children_with_tokens()
                    .filter_map(|e| e.into_token())
                    .filter(|t| t.kind().is_keyword())
                    .map(|t| t.text().to_uppercase())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        CommentTarget::Other { keyword }
    };
    CommentOn {
        target,
        text,
        text_span: literal.map_or(span(node), |l| span(&l)),
    }
}

fn database_options(node: &SyntaxNode) -> Vec<(String, String)> {
    let Some(list) = child(node, K::DATABASE_OPTION_LIST) else {
        return Vec::new();
    };
    list.children()
        .map(|option| {
            let tokens: Vec<SyntaxToken> = option
                .descendants_with_tokens()
                .filter_map(|e| e.into_token())
                .filter(|t| !t.kind().is_trivia() && t.kind() != K::EQ)
                .collect();
            let key = tokens
                .iter()
                .take_while(|t| t.kind().is_keyword() || t.kind() == K::IDENT)
                .take(2);
            let key: Vec<String> = key.map(|t| t.text().to_uppercase()).collect();
            let value = tokens.last().map(|t| unquote(t.text())).unwrap_or_default();
            // `LC_COLLATE 'C'` lexes as IDENT + STRING: keep the first word.
            let key = key.first().cloned().unwrap_or_default();
            (key, value)
        })
        .collect()
}

// ------------------------------------------------------------ data types

/// Node kinds classified once by name: squawk names every type node
/// `*_TYPE` and every expression node `*_EXPR`.
static KIND_CLASSES: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    (0..u16::from(K::__LAST))
        .map(|raw| {
            let kind = K::from(raw);
            let name = format!("{kind:?}");
            let mut class = 0;
            if name.ends_with("_TYPE") && kind != K::ENUM_TYPE {
                class |= TYPE_KIND;
            }
            if name.ends_with("_EXPR") || matches!(kind, K::LITERAL | K::NAME_REF | K::ARRAY_EXPR) {
                class |= EXPR_KIND;
            }
            if name.starts_with("REINDEX_TARGET") {
                class |= REINDEX_TARGET_KIND;
            }
            class
        })
        .collect()
});
const TYPE_KIND: u8 = 1;
const EXPR_KIND: u8 = 2;
const REINDEX_TARGET_KIND: u8 = 4;

fn kind_class(kind: K) -> u8 {
    KIND_CLASSES
        .get(usize::from(u16::from(kind)))
        .copied()
        .unwrap_or(0)
}

fn is_type_kind(kind: K) -> bool {
    kind_class(kind) & TYPE_KIND != 0
}

fn data_type(node: &SyntaxNode) -> DataType {
    if node.kind() == K::ARRAY_TYPE {
        let mut inner = node
            .children()
            .find(|n| is_type_kind(n.kind()))
            .map(|n| data_type(&n))
            .unwrap_or_else(|| DataType {
                name: String::new(),
                schema: None,
                modifiers: Vec::new(),
                array: false,
                text: String::new(),
                span: span(node),
            });
        inner.array = true;
        inner.text = node.text().to_string();
        inner.span = span(node);
        return inner;
    }
    // Words of the type name: tokens outside argument lists and time-zone
    // clauses, which are modifiers.
    let mut words = Vec::new();
    let mut modifiers = Vec::new();
    for element in node.descendants_with_tokens() {
        let Some(token) = element.into_token() else {
            continue;
        };
        let inside_modifier = token
            .parent_ancestors()
            .take_while(|a| a != node)
            .any(|a| matches!(a.kind(), K::ARG_LIST | K::ARRAY_BOUND));
        match token.kind() {
            K::INT_NUMBER => modifiers.push(token.text().parse().unwrap_or(0)),
            kind if kind.is_trivia() || inside_modifier => {}
            K::IDENT => words.push(ident_text(token.text()).0),
            kind if kind.is_keyword() => words.push(token.text().to_lowercase()),
            _ => {}
        }
    }
    let with_tz = child(node, K::WITH_TIMEZONE).is_some();
    // Keep the schema apart: `public.citext` → name `citext`.
    let path_parts = child(node, K::PATH_REF)
        .map(|p| name_parts(&p))
        .unwrap_or_default();
    let (schema, words) = if path_parts.len() > 1 {
        (
            Some(path_parts[path_parts.len() - 2].name.clone()),
            vec![path_parts[path_parts.len() - 1].name.clone()],
        )
    } else {
        (
            None,
            words
                .into_iter()
                .filter(|w| !matches!(w.as_str(), "with" | "without" | "time" | "zone"))
                .collect::<Vec<_>>(),
        )
    };
    let mut name = words.join(" ");
    if matches!(node.kind(), K::TIMESTAMP_TYPE | K::TIME_TYPE) {
        let base = if node.kind() == K::TIMESTAMP_TYPE {
            "timestamp"
        } else {
            "time"
        };
        name = if with_tz {
            format!("{base}tz")
        } else {
            base.to_string()
        };
    }
    name = match name.as_str() {
        "character varying" | "char varying" => "varchar".into(),
        "character" => "char".into(),
        "bit varying" => "varbit".into(),
        "national character varying" => "varchar".into(),
        _ => name,
    };
    DataType {
        name,
        schema,
        modifiers,
        array: false,
        text: node.text().to_string(),
        span: span(node),
    }
}

// ----------------------------------------------------------- expressions

fn is_expr_kind(kind: K) -> bool {
    kind_class(kind) & EXPR_KIND != 0
}

/// The first child node that is an expression, lowered.
fn first_expr(node: &SyntaxNode) -> Option<Expr> {
    node.children()
        .find(|n| is_expr_kind(n.kind()) || is_select_kind(n.kind()) || n.kind() == K::SET_EXPR)
        .map(|n| expr(&n))
}

fn empty_expr(node: &SyntaxNode) -> Expr {
    Expr {
        kind: ExprKind::Other(Vec::new()),
        span: span(node),
    }
}

fn expr(node: &SyntaxNode) -> Expr {
    let kind = match node.kind() {
        K::NAME_REF => ExprKind::Column(
            node.first_token()
                .map(|t| ident_text(t.text()).0)
                .unwrap_or_default(),
        ),
        K::FIELD_EXPR => match node.children().filter(|n| n.kind() == K::NAME_REF).last() {
            Some(last) if !has_token(node, K::STAR) => ExprKind::Column(
                last.first_token()
                    .map(|t| ident_text(t.text()).0)
                    .unwrap_or_default(),
            ),
            _ => ExprKind::Other(node.children().map(|n| expr(&n)).collect()),
        },
        K::LITERAL => match node.first_token() {
            Some(token) => match token.kind() {
                K::NULL_KW => ExprKind::Null,
                K::TRUE_KW => ExprKind::Bool(true),
                K::FALSE_KW => ExprKind::Bool(false),
                K::INT_NUMBER | K::NUMERIC_NUMBER => ExprKind::Number(token.text().to_string()),
                _ => ExprKind::String(unquote(token.text())),
            },
            None => ExprKind::Other(Vec::new()),
        },
        K::CALL_EXPR if child(node, K::EXISTS_FN).is_some() => {
            let args = child(node, K::EXISTS_FN)
                .into_iter()
                .flat_map(|e| {
                    e.children()
                        .filter(|n| is_select_kind(n.kind()))
                        .collect::<Vec<_>>()
                })
                .map(|n| expr(&n))
                .collect();
            ExprKind::Call {
                name: "exists".into(),
                args,
            }
        }
        K::CALL_EXPR => {
            let name = node
                .children()
                .find(|n| {
                    !matches!(
                        n.kind(),
                        K::ARG_LIST | K::WITHIN_CLAUSE | K::FILTER_CLAUSE | K::OVER_CLAUSE
                    )
                })
                .map(|n| {
                    name_parts(&n)
                        .last()
                        .map(|p| p.name.clone())
                        .unwrap_or_else(|| n.text().to_string().to_lowercase())
                })
                .unwrap_or_default();
            let args = child(node, K::ARG_LIST)
                .map(|list| {
                    list.children()
                        .map(|arg| {
                            if arg.kind() == K::ARG {
                                first_expr(&arg).unwrap_or_else(|| empty_expr(&arg))
                            } else {
                                expr(&arg)
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            ExprKind::Call { name, args }
        }
        K::BIN_EXPR => {
            // Operands are expression nodes; the operator is the tokens and
            // operator nodes between them (`NOT LIKE`, `IS NOT`, `OPERATOR(...)`).
            let is_operand = |n: &SyntaxNode| {
                is_expr_kind(n.kind()) || is_select_kind(n.kind()) || is_type_kind(n.kind())
            };
            let mut operands = node.children().filter(is_operand).map(|n| expr(&n));
            let op = node
                .children_with_tokens()
                .filter(|e| match e {
                    rowan::NodeOrToken::Token(t) => !t.kind().is_trivia(),
                    rowan::NodeOrToken::Node(n) => !is_operand(n),
                })
                .flat_map(|e| match e {
                    rowan::NodeOrToken::Token(t) => vec![t.text().to_uppercase()],
                    rowan::NodeOrToken::Node(n) => {
                        let tokens: Vec<SyntaxToken> = n
                            .descendants_with_tokens()
                            .filter_map(|d| d.into_token())
                            .filter(|t| !t.kind().is_trivia())
                            .collect();
                        // `||` is two PIPE tokens; `NOT LIKE` two words.
                        let separator = if tokens.iter().any(|t| t.kind().is_keyword()) {
                            " "
                        } else {
                            ""
                        };
                        vec![
                            tokens
                                .iter()
                                .map(|t| t.text().to_uppercase())
                                .collect::<Vec<_>>()
                                .join(separator),
                        ]
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            match (operands.next(), operands.next()) {
                (Some(left), Some(right)) => ExprKind::Binary {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                },
                (Some(only), None) => ExprKind::Other(vec![only]),
                _ => ExprKind::Other(Vec::new()),
            }
        }
        K::PREFIX_EXPR | K::POSTFIX_EXPR => {
            let op = node
                .children_with_tokens()
                .filter_map(|e| e.into_token())
                .filter(|t| !t.kind().is_trivia())
                .map(|t| t.text().to_uppercase())
                .collect::<Vec<_>>()
                .join(" ");
            match node
                .children()
                .find(|n| is_expr_kind(n.kind()) || is_select_kind(n.kind()))
            {
                Some(operand) => ExprKind::Unary {
                    op,
                    operand: Box::new(expr(&operand)),
                },
                None => ExprKind::Other(Vec::new()),
            }
        }
        K::CAST_EXPR => {
            let inner = node
                .children()
                .find(|n| is_expr_kind(n.kind()) || is_select_kind(n.kind()));
            let type_name = node
                .children()
                .find(|n| is_type_kind(n.kind()))
                .map(|n| data_type(&n).name)
                .unwrap_or_default();
            match inner {
                Some(inner) => ExprKind::Cast {
                    expr: Box::new(expr(&inner)),
                    type_name,
                },
                None => ExprKind::Other(Vec::new()),
            }
        }
        K::PAREN_EXPR => match node
            .children()
            .find(|n| is_expr_kind(n.kind()) || is_select_kind(n.kind()))
        {
            Some(inner) if node.children().count() == 1 => return expr(&inner),
            _ => ExprKind::Other(node.children().map(|n| expr(&n)).collect()),
        },
        K::SET_EXPR => match node.children().next() {
            Some(inner) if node.children().count() == 1 => return expr(&inner),
            _ => ExprKind::Other(node.children().map(|n| expr(&n)).collect()),
        },
        kind if is_select_kind(kind) => ExprKind::Subquery(Box::new(select(node))),
        _ => ExprKind::Other(
            node.children()
                .filter(|n| !is_type_kind(n.kind()))
                .map(|n| expr(&n))
                .collect(),
        ),
    };
    Expr {
        kind,
        span: span(node),
    }
}

// ----------------------------------------------------------------- names

fn span(node: &SyntaxNode) -> Span {
    let range = node.text_range();
    Span::new(range.start().into(), range.end().into())
}

fn token_span(token: &SyntaxToken) -> Span {
    let range = token.text_range();
    Span::new(range.start().into(), range.end().into())
}

fn child(node: &SyntaxNode, kind: K) -> Option<SyntaxNode> {
    node.children().find(|n| n.kind() == kind)
}

/// Whether `node` has a direct child token of `kind`.
fn has_token(node: &SyntaxNode, kind: K) -> bool {
    node.children_with_tokens().any(|e| e.kind() == kind)
}

/// A path nested inside another path (`PATH_REF` within `PATH_REF`): only
/// the outermost one names an object.
fn is_nested_path(node: &SyntaxNode) -> bool {
    node.parent()
        .is_some_and(|p| p.kind() == K::PATH_REF || p.kind() == K::PATH)
}

/// Folds an identifier the way PostgreSQL does: quoted names keep their case
/// and lose their quotes; unquoted names are lower-cased.
fn ident_text(text: &str) -> (String, bool) {
    if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
        (text[1..text.len() - 1].replace("\"\"", "\""), true)
    } else {
        (text.to_lowercase(), false)
    }
}

/// Strips SQL quoting from a literal or identifier: `'it''s'` → `it's`,
/// `E'x'` → `x`, `$$body$$` → `body`, `"Name"` → `Name`.
fn unquote(text: &str) -> String {
    let text = text.trim();
    if let Some(rest) = text
        .strip_prefix(['E', 'e'])
        .filter(|r| r.starts_with('\''))
    {
        return unquote(rest);
    }
    if text.len() >= 2 && text.starts_with('\'') && text.ends_with('\'') {
        return text[1..text.len() - 1].replace("''", "'");
    }
    if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
        return text[1..text.len() - 1].replace("\"\"", "\"");
    }
    if text.starts_with('$')
        && let Some(tag_end) = text[1..].find('$')
    {
        let tag = &text[..tag_end + 2];
        if text.len() >= 2 * tag.len() && text.ends_with(tag) {
            return text[tag.len()..text.len() - tag.len()].to_string();
        }
    }
    text.to_string()
}

/// The identifier parts of a name node, in order: `s.t.c` → `[s, t, c]`.
fn name_parts(node: &SyntaxNode) -> Vec<Ident> {
    node.descendants_with_tokens()
        .filter_map(|e| e.into_token())
        .filter(|t| t.kind() == K::IDENT || t.kind().is_keyword())
        .map(|t| {
            let (name, quoted) = ident_text(t.text());
            Ident {
                name,
                quoted,
                span: token_span(&t),
            }
        })
        .collect()
}

fn object_name(node: &SyntaxNode) -> ObjectName {
    let mut parts = name_parts(node);
    match parts.pop() {
        Some(last) => {
            let schema = parts.pop();
            ObjectName {
                span: schema
                    .as_ref()
                    .map_or(last.span, |s| s.span.cover(last.span)),
                schema: schema.map(|s| s.name),
                name: last.name,
                quoted: last.quoted,
            }
        }
        None => missing_name(node),
    }
}

/// The object name inside the first child of one of `kinds`.
fn first_name(node: &SyntaxNode, kinds: &[K]) -> ObjectName {
    node.children()
        .find(|n| kinds.contains(&n.kind()))
        .map(|n| object_name(&n))
        .unwrap_or_else(|| missing_name(node))
}

fn first_ident(node: &SyntaxNode) -> Option<Ident> {
    name_parts(node).into_iter().next()
}

fn last_ident(node: &SyntaxNode) -> Option<Ident> {
    name_parts(node).pop()
}

/// `(a, b)` column lists, at any depth below `node`.
fn column_refs(node: &SyntaxNode) -> Vec<Ident> {
    node.descendants()
        .filter(|n| n.kind() == K::COLUMN_NAME_REF)
        .filter_map(|n| first_ident(&n))
        .collect()
}

/// Stands in for a name the parser could not find (the statement has a
/// syntax error, which is reported separately).
fn missing_name(node: &SyntaxNode) -> ObjectName {
    ObjectName {
        schema: None,
        name: String::new(),
        quoted: false,
        span: span(node),
    }
}

fn missing_ident(node: &SyntaxNode) -> Ident {
    Ident {
        name: String::new(),
        quoted: false,
        span: span(node),
    }
}

#[cfg(test)]
mod tests;
