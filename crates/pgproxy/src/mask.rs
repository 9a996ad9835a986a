//! Masking obligations: columns policy marks sensitive are blanked in
//! `DataRow`s, in text and binary formats alike. A result column is mapped
//! back to `schema.table.column` through its `RowDescription` origin
//! (table OID, attribute number) and the upstream catalog.
//!
//! Computed columns have no origin. When the statement mentions a masked
//! column name, a `*`, or a whole-row reference, such columns may carry
//! masked data (`upper(email)`, `row_to_json(c)`), so they are masked too.

use crate::catalog::RelInfo;
use crate::classify::Facts;
use crate::wire::backend::{DataRow, RowDescription};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;

/// One masked column: `[schema.]table.column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskTarget {
    pub schema: Option<String>,
    pub table: String,
    pub column: String,
}

impl MaskTarget {
    pub fn parse(s: &str) -> Option<MaskTarget> {
        let parts: Vec<&str> = s.trim().split('.').collect();
        match parts.as_slice() {
            [t, c] if !t.is_empty() && !c.is_empty() => Some(MaskTarget {
                schema: None,
                table: (*t).to_owned(),
                column: (*c).to_owned(),
            }),
            [s, t, c] if !s.is_empty() && !t.is_empty() && !c.is_empty() => Some(MaskTarget {
                schema: Some((*s).to_owned()),
                table: (*t).to_owned(),
                column: (*c).to_owned(),
            }),
            _ => None,
        }
    }

    fn matches(&self, rel: &RelInfo, column: &str) -> bool {
        self.table == rel.table
            && self.column == column
            && self.schema.as_ref().is_none_or(|s| *s == rel.schema)
    }
}

/// What a decision's mask obligations ask of its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskSpec {
    pub targets: Vec<MaskTarget>,
    /// Mask computed columns too.
    pub taint: bool,
}

impl MaskSpec {
    /// From the obligation targets of a decision and the statement's facts.
    /// `None` when nothing is masked. Unparseable targets mask every
    /// column (fail closed).
    pub fn new<'a>(
        targets: impl IntoIterator<Item = &'a str>,
        facts: &[&Facts],
    ) -> Option<MaskSpec> {
        let mut out = Vec::new();
        let mut broken = false;
        for t in targets {
            match MaskTarget::parse(t) {
                Some(m) => out.push(m),
                None => broken = true,
            }
        }
        if out.is_empty() && !broken {
            return None;
        }
        if broken {
            out.push(MaskTarget {
                schema: None,
                table: "*".into(),
                column: "*".into(),
            });
        }
        let taint = broken
            || facts.iter().any(|f| {
                f.star
                    || f.single_refs.iter().any(|r| f.names.contains(r))
                    || out.iter().any(|m| f.columns.contains(&m.column))
            });
        Some(MaskSpec {
            targets: out,
            taint,
        })
    }

    fn masks_everything(&self) -> bool {
        self.targets.iter().any(|t| t.table == "*")
    }
}

/// What to do with one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskAction {
    Keep,
    /// Replace with `****` (text-like types: same bytes in text and binary).
    Stars,
    /// Replace with NULL (any other type).
    Null,
}

/// Per-column actions for one result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MaskPlan {
    pub columns: Vec<MaskAction>,
}

/// Text-like types whose binary format is the text itself.
fn text_like(type_oid: u32) -> bool {
    matches!(type_oid, 25 | 1043 | 1042 | 19 | 705)
}

impl MaskPlan {
    /// Maps `desc` to actions. `rels` are the catalog's names of the OIDs
    /// in `desc`; a column whose table is not there is masked.
    pub fn new(
        spec: &MaskSpec,
        desc: &RowDescription,
        rels: &HashMap<u32, Arc<RelInfo>>,
    ) -> MaskPlan {
        let all = spec.masks_everything();
        let columns = desc
            .fields
            .iter()
            .map(|f| {
                let masked = all
                    || if f.table_oid == 0 {
                        spec.taint
                    } else {
                        match rels.get(&f.table_oid) {
                            None => true,
                            Some(rel) => match rel.columns.get(&f.column) {
                                None => true,
                                Some(col) => spec.targets.iter().any(|t| t.matches(rel, col)),
                            },
                        }
                    };
                match (masked, text_like(f.type_oid)) {
                    (false, _) => MaskAction::Keep,
                    (true, true) => MaskAction::Stars,
                    (true, false) => MaskAction::Null,
                }
            })
            .collect();
        MaskPlan { columns }
    }

    /// A plan for a result whose columns are not known: mask them all.
    pub fn everything() -> MaskPlan {
        MaskPlan {
            columns: Vec::new(),
        }
    }

    pub fn is_noop(&self) -> bool {
        !self.columns.is_empty() && self.columns.iter().all(|c| *c == MaskAction::Keep)
    }

    /// Applies the plan to a row. Columns beyond the plan (or every column,
    /// for [`MaskPlan::everything`]) become NULL.
    pub fn apply(&self, row: &mut DataRow) {
        for (i, v) in row.values.iter_mut().enumerate() {
            if v.is_none() {
                continue;
            }
            match self.columns.get(i).copied().unwrap_or(MaskAction::Null) {
                MaskAction::Keep => {}
                MaskAction::Stars => *v = Some(Bytes::from_static(b"****")),
                MaskAction::Null => *v = None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::wire::backend::Field;

    fn field(table_oid: u32, column: i16, type_oid: u32) -> Field {
        Field {
            name: "x".into(),
            table_oid,
            column,
            type_oid,
            type_size: -1,
            type_modifier: -1,
            format: 0,
        }
    }

    #[test]
    fn masks_the_named_column_and_tainted_expressions_only() {
        let facts = crate::classify::facts(
            "SELECT id, email, upper(email) FROM customers",
            Default::default(),
        )
        .unwrap();
        let spec = MaskSpec::new(["customers.email"], &[&facts]).unwrap();
        assert!(spec.taint);
        let mut rels = HashMap::new();
        rels.insert(
            7,
            Arc::new(RelInfo {
                schema: "public".into(),
                table: "customers".into(),
                columns: [(1, "id".to_owned()), (2, "email".to_owned())].into(),
            }),
        );
        let desc = RowDescription {
            fields: vec![field(7, 1, 23), field(7, 2, 25), field(0, 0, 25)],
        };
        let plan = MaskPlan::new(&spec, &desc, &rels);
        assert_eq!(
            plan.columns,
            [MaskAction::Keep, MaskAction::Stars, MaskAction::Stars]
        );
        let mut row = DataRow {
            values: vec![
                Some(Bytes::from_static(b"1")),
                Some(Bytes::from_static(b"a@b.c")),
                None,
            ],
        };
        plan.apply(&mut row);
        assert_eq!(row.values[0].as_deref(), Some(&b"1"[..]));
        assert_eq!(row.values[1].as_deref(), Some(&b"****"[..]));
        assert_eq!(row.values[2], None);
        // Unknown tables are masked; untainted expressions are not.
        let clean =
            crate::classify::facts("SELECT count(*) FROM customers", Default::default()).unwrap();
        let spec = MaskSpec::new(["customers.email"], &[&clean]).unwrap();
        let desc = RowDescription {
            fields: vec![field(0, 0, 20), field(99, 1, 23)],
        };
        assert_eq!(
            MaskPlan::new(&spec, &desc, &rels).columns,
            [MaskAction::Keep, MaskAction::Null]
        );
    }
}
