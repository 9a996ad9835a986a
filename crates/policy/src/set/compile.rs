//! `PolicySet::compile`: parse, check annotations, validate strictly, index,
//! hash. Every problem in every file is reported at once.

use std::collections::HashMap;

use cedar_policy::{EntityTypeName, EntityUid, PolicyId, Schema, ValidationMode, Validator};

use super::context::{self, Approval, ContextCache};
use super::hash::policy_set_hash;
use super::index::Index;
use super::parse::{self, Located};
use super::{ActionInfo, PolicySet, TypeInfo};
use crate::annotations::{self, PolicyMeta};
use crate::{Diagnostic, PolicyError, PolicySource};

impl PolicySet {
    /// Compiles a schema and policy files. Any parse, strict validation or
    /// annotation error is refused with `file:line:col` and what is wrong;
    /// policy ids come from `@id` and must be unique across files.
    pub fn compile(
        schema_name: &str,
        schema_text: &str,
        sources: &[PolicySource],
    ) -> Result<PolicySet, PolicyError> {
        let schema_source = PolicySource::new(schema_name, schema_text);
        let mut diagnostics = Vec::new();

        let mut sources = sources.to_vec();
        sources.sort_by(|a, b| a.name.cmp(&b.name));
        for pair in sources.windows(2) {
            if let [a, b] = pair
                && a.name == b.name
            {
                diagnostics.push(parse::diag_at(
                    b,
                    0,
                    format!("policy file `{}` is given twice", b.name),
                ));
            }
        }

        let schema = parse::parse_schema(&schema_source)
            .map_err(|d| diagnostics.push(d))
            .ok();
        let located: Vec<Located> = sources
            .iter()
            .enumerate()
            .flat_map(|(i, s)| parse::parse_file(i, s, &mut diagnostics))
            .collect();

        let (policies, meta) = identify(&sources, located, &mut diagnostics);
        let full =
            cedar_policy::PolicySet::from_policies(policies.iter().map(|l| l.policy.clone()));
        let (Some(schema), Ok(full)) = (schema, full) else {
            return Err(invalid(diagnostics));
        };
        // Validate what parsed even if something else did not, so that one
        // run reports every problem.
        let mut warnings = Vec::new();
        validate(
            &schema,
            &full,
            &sources,
            &policies,
            &mut diagnostics,
            &mut warnings,
        );
        if !diagnostics.is_empty() {
            return Err(invalid(diagnostics));
        }

        let (types, type_names) = type_table(&schema);
        let (actions, action_uids) = action_table(&schema, &type_names);
        let index_policies: Vec<_> = policies.iter().map(|l| &l.policy).collect();
        let index =
            Index::build(&schema, &action_uids, &type_names, &index_policies).map_err(|e| {
                invalid(vec![parse::diag_at(
                    &schema_source,
                    0,
                    format!("could not build the policy index: {e}"),
                )])
            })?;

        let mut ids: Vec<String> = meta.keys().cloned().collect();
        ids.sort();
        let hash = policy_set_hash(&schema_source, &sources);
        let contexts = ContextCache::new(
            index
                .environments()
                .iter()
                .map(String::as_str)
                .chain(["dev", "staging", "prod"]),
        );
        Ok(PolicySet {
            schema,
            schema_source,
            sources,
            full,
            index,
            meta,
            ids,
            warnings,
            hash,
            actions,
            types,
            contexts,
            authorizer: cedar_policy::Authorizer::new(),
        })
    }
}

fn invalid(mut diagnostics: Vec<Diagnostic>) -> PolicyError {
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    diagnostics.dedup();
    PolicyError::Invalid { diagnostics }
}

/// Gives each policy its `@id`, refuses missing and duplicate ids, and reads
/// the annotations.
fn identify(
    sources: &[PolicySource],
    located: Vec<Located>,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Vec<Located>, HashMap<String, PolicyMeta>) {
    let mut first_seen: HashMap<String, Diagnostic> = HashMap::new();
    let mut meta = HashMap::new();
    let mut out = Vec::with_capacity(located.len());
    for mut l in located {
        let source = &sources[l.file];
        let at = |l: &Located, key: Option<&str>, message: String| {
            parse::diag_at(source, parse::annotation_offset(l, key), message)
        };
        let id = match annotations::policy_id(&l.policy) {
            Ok(id) => id,
            Err(p) => {
                diagnostics.push(at(&l, p.key.as_deref(), p.message));
                continue;
            }
        };
        let here = at(&l, Some("id"), String::new());
        if let Some(first) = first_seen.get(&id) {
            diagnostics.push(Diagnostic {
                message: format!(
                    "duplicate policy id `{id}` (first used at {}:{}:{})",
                    first.file, first.line, first.col
                ),
                ..here
            });
            continue;
        }
        first_seen.insert(id.clone(), here);
        match annotations::read_meta(&id, &l.policy) {
            Ok(m) => {
                meta.insert(id.clone(), m);
            }
            Err(problems) => {
                for p in problems {
                    diagnostics.push(at(&l, p.key.as_deref(), p.message));
                }
            }
        }
        l.policy = l.policy.new_id(PolicyId::new(&id));
        out.push(l);
    }
    (out, meta)
}

/// Strict validation; errors and warnings are placed in their files.
fn validate(
    schema: &Schema,
    full: &cedar_policy::PolicySet,
    sources: &[PolicySource],
    policies: &[Located],
    diagnostics: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) {
    let by_id: HashMap<&str, &Located> = policies
        .iter()
        .map(|l| (AsRef::<str>::as_ref(l.policy.id()), l))
        .collect();
    let place = |id: &PolicyId, err: &dyn miette::Diagnostic| {
        by_id
            .get(AsRef::<str>::as_ref(id))
            .map(|l| parse::diag_from_cedar(&sources[l.file], err, l.offset))
    };
    let result = Validator::new(schema.clone()).validate(full, ValidationMode::Strict);
    diagnostics.extend(
        result
            .validation_errors()
            .filter_map(|e| place(e.policy_id(), e)),
    );
    warnings.extend(
        result
            .validation_warnings()
            .filter_map(|w| place(w.policy_id(), w)),
    );
}

/// The schema's actions by id (rows of the index, sorted for stability),
/// with what they apply to.
fn action_table(
    schema: &Schema,
    types: &[EntityTypeName],
) -> (HashMap<String, ActionInfo>, Vec<EntityUid>) {
    let mut uids: Vec<EntityUid> = schema.actions().cloned().collect();
    uids.sort_by_key(|u| u.to_string());
    let plain = context::build(&[], "dev", Approval::None).ok();
    let table = uids
        .iter()
        .enumerate()
        .map(|(idx, uid)| {
            let applies = |allowed: Option<Vec<&EntityTypeName>>| {
                let allowed = allowed.unwrap_or_default();
                types.iter().map(|t| allowed.contains(&t)).collect()
            };
            let info = ActionInfo {
                uid: uid.clone(),
                idx,
                principal_types: applies(schema.principals_for_action(uid).map(Iterator::collect)),
                resource_types: applies(schema.resources_for_action(uid).map(Iterator::collect)),
                plain_context_ok: plain
                    .as_ref()
                    .is_some_and(|c| c.validate(schema, uid).is_ok()),
            };
            (uid.id().unescaped().to_owned(), info)
        })
        .collect();
    (table, uids)
}

/// The schema's entity types by name (columns of the index).
fn type_table(schema: &Schema) -> (HashMap<String, TypeInfo>, Vec<EntityTypeName>) {
    let mut names: Vec<EntityTypeName> = schema.entity_types().cloned().collect();
    names.sort_by_key(ToString::to_string);
    let table = names
        .iter()
        .enumerate()
        .map(|(idx, name)| {
            (
                name.to_string(),
                TypeInfo {
                    name: name.clone(),
                    idx,
                },
            )
        })
        .collect();
    (table, names)
}
