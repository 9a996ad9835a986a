//! Turning a [`Query`] into Cedar requests: uids from the precomputed
//! tables, applicability checked against the schema, and the context with
//! `environment` and `approval` added and validated.

use cedar_policy::{Context, EntityId, EntityUid, Request};

use super::context::{self, Approval};
use super::index::Key;
use super::{ActionInfo, PolicySet};
use crate::{EntityRef, Query, QueryError};

/// What both evaluation passes of a query share.
#[derive(Debug)]
pub(super) struct Prepared<'s> {
    pub(super) action: &'s ActionInfo,
    pub(super) principal: EntityUid,
    pub(super) resource: EntityUid,
    pub(super) bucket: &'s cedar_policy::PolicySet,
}

const RESERVED: [&str; 2] = ["environment", "approval"];

impl PolicySet {
    /// Resolves and checks the action, principal and resource, refuses
    /// reserved context keys, and picks the index bucket.
    pub(super) fn prepare(&self, q: &Query<'_>) -> Result<Prepared<'_>, QueryError> {
        let action = self
            .actions
            .get(q.action)
            .ok_or_else(|| QueryError::UnknownAction(q.action.to_owned()))?;
        let (principal, row) = self.uid(q.principal)?;
        let (resource, column) = self.uid(q.resource)?;
        let not_applicable = |role, kind: &str| QueryError::NotApplicable {
            action: q.action.to_owned(),
            role,
            kind: kind.to_owned(),
        };
        if !action.principal_types.get(row).copied().unwrap_or(false) {
            return Err(not_applicable("principal", q.principal.kind));
        }
        if !action.resource_types.get(column).copied().unwrap_or(false) {
            return Err(not_applicable("resource", q.resource.kind));
        }
        if let Some(key) = RESERVED.iter().find(|k| q.context.contains_key(**k)) {
            return Err(QueryError::InvalidContext {
                action: q.action.to_owned(),
                message: format!("`{key}` is set by countersign and may not be given"),
            });
        }
        let bucket = self
            .index
            .lookup(&Key {
                action: action.idx,
                principal_type: row,
                resource_type: column,
                resource_id: q.resource.id,
                environment: Some(q.environment),
            })
            .unwrap_or(&self.full);
        Ok(Prepared {
            action,
            principal,
            resource,
            bucket,
        })
    }

    fn uid(&self, e: EntityRef<'_>) -> Result<(EntityUid, usize), QueryError> {
        let ty = self
            .types
            .get(e.kind)
            .ok_or_else(|| QueryError::UnknownEntityType(e.kind.to_owned()))?;
        Ok((
            EntityUid::from_type_name_and_id(ty.name.clone(), EntityId::new(e.id)),
            ty.idx,
        ))
    }

    /// The Cedar request for one pass. Types were checked by `prepare` and
    /// the context is validated here, so Cedar does not validate again.
    pub(super) fn request(
        &self,
        p: &Prepared<'_>,
        q: &Query<'_>,
        approval: Approval<'_>,
    ) -> Result<Request, QueryError> {
        let context = self.context(p, q, approval)?;
        Request::new(
            p.principal.clone(),
            p.action.uid.clone(),
            p.resource.clone(),
            context,
            None,
        )
        .map_err(|e| QueryError::InvalidContext {
            action: q.action.to_owned(),
            message: e.to_string(),
        })
    }

    fn context(
        &self,
        p: &Prepared<'_>,
        q: &Query<'_>,
        approval: Approval<'_>,
    ) -> Result<Context, QueryError> {
        if q.context.is_empty() && p.action.plain_context_ok {
            if let Some(context) = self.contexts.get(q.environment, approval) {
                return Ok(context);
            }
            if let Ok(context) = context::build(&[], q.environment, approval) {
                return Ok(context);
            }
        }
        if let Some(pairs) = context::convert(q.context)
            && let Ok(context) = context::build(&pairs, q.environment, approval)
            && context.validate(&self.schema, &p.action.uid).is_ok()
        {
            return Ok(context);
        }
        // Cedar's own parser: accepts implicit entity references and
        // extension values, and explains what does not fit.
        let invalid = |message: String| QueryError::InvalidContext {
            action: q.action.to_owned(),
            message,
        };
        let context = context::parse_with_schema(
            &self.schema,
            &p.action.uid,
            q.context,
            q.environment,
            approval,
        )
        .map_err(invalid)?;
        context
            .validate(&self.schema, &p.action.uid)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(context)
    }
}
