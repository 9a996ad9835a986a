//! Principals and tokens: admin changes, each audited, each followed by a
//! fresh snapshot so the next request sees it (revocation is immediate).

use super::Governor;
use crate::audit::{AuditEvent, EventKind};
use crate::error::GovernorError;
use crate::principal::{Principal, PrincipalKind};
use crate::store::{Mutation, Write};
use crate::time::Timestamp;
use crate::token::{self, IssuedToken};
use countersign_policy::DirectoryEntry;

/// A principal to create.
#[derive(Debug, Clone)]
pub struct NewPrincipal {
    pub name: String,
    pub kind: PrincipalKind,
    pub groups: Vec<String>,
    pub owner: Option<String>,
    pub email: Option<String>,
}

pub(super) fn entry(p: &Principal) -> DirectoryEntry {
    DirectoryEntry {
        kind: match p.kind {
            PrincipalKind::User => countersign_policy::PrincipalKind::User,
            PrincipalKind::Agent => countersign_policy::PrincipalKind::Agent,
            PrincipalKind::Service => countersign_policy::PrincipalKind::Service,
        },
        id: p.name.clone(),
        groups: p.groups.clone(),
        owner: p.owner.clone(),
        email: p.email.clone(),
    }
}

const MAX_GROUPS: usize = 64;
const MAX_LABEL: usize = 200;

impl Governor {
    /// Administrators: members of the admin group that are not agents.
    pub fn is_admin(&self, p: &Principal) -> bool {
        p.kind != PrincipalKind::Agent && !p.disabled && p.in_group(&self.config.admin_group)
    }

    fn require_admin(&self, p: Option<&Principal>) -> Result<(), GovernorError> {
        match p {
            None => Ok(()), // the local operator (init, serve's first start)
            Some(p) if self.is_admin(p) => Ok(()),
            Some(_) => Err(GovernorError::Forbidden(format!(
                "this needs membership in the `{}` group",
                self.config.admin_group
            ))),
        }
    }

    /// Creates a principal. `by` is `None` for the local operator.
    pub async fn add_principal(
        &self,
        by: Option<&Principal>,
        new: NewPrincipal,
        request_id: Option<&str>,
    ) -> Result<Principal, GovernorError> {
        self.require_admin(by)?;
        let _guard = self.admin_lock.lock().await;
        let mut groups = new.groups;
        groups.sort();
        groups.dedup();
        if groups.len() > MAX_GROUPS {
            return Err(GovernorError::InvalidRequest(format!(
                "at most {MAX_GROUPS} groups"
            )));
        }
        let p = Principal {
            name: new.name,
            kind: new.kind,
            groups,
            owner: new.owner,
            email: new.email,
            disabled: false,
            created_at: self.now(),
        };
        p.validate()
            .map_err(|e| GovernorError::InvalidRequest(e.to_string()))?;
        let snap = self.snapshot();
        if snap.principals.contains_key(&p.name) {
            return Err(GovernorError::AlreadyExists(format!(
                "principal `{}`",
                p.name
            )));
        }
        if let Some(owner) = &p.owner {
            let ok = snap
                .principals
                .get(owner)
                .is_some_and(|o| o.kind == PrincipalKind::User && !o.disabled);
            if !ok {
                return Err(GovernorError::InvalidRequest(format!(
                    "owner `{owner}` is not an enabled user"
                )));
            }
        }
        let mut ev = AuditEvent::new(EventKind::PrincipalCreated).with_request_id(request_id);
        ev.principal = by.map(Principal::reference);
        ev.detail = Some(serde_json::json!({
            "name": p.name, "kind": p.kind.as_str(), "groups": p.groups, "owner": p.owner,
        }));
        self.store
            .commit(Write::new(Mutation::CreatePrincipal(p.clone()), ev))
            .await?;
        self.refresh_directory().await?;
        Ok(p)
    }

    /// Disables a principal: its tokens stop working at once and it can no
    /// longer vote. Principals are never deleted (the audit log names them).
    pub async fn disable_principal(
        &self,
        by: Option<&Principal>,
        name: &str,
        request_id: Option<&str>,
    ) -> Result<Principal, GovernorError> {
        self.require_admin(by)?;
        let _guard = self.admin_lock.lock().await;
        let mut p = self
            .snapshot()
            .principals
            .get(name)
            .cloned()
            .ok_or_else(|| GovernorError::NotFound(format!("principal `{name}`")))?;
        if by.is_some_and(|b| b.name == name) {
            return Err(GovernorError::InvalidRequest(
                "an administrator cannot disable themselves".into(),
            ));
        }
        if p.disabled {
            return Ok(p);
        }
        p.disabled = true;
        let mut ev = AuditEvent::new(EventKind::PrincipalDisabled).with_request_id(request_id);
        ev.principal = by.map(Principal::reference);
        ev.detail = Some(serde_json::json!({ "name": p.name, "kind": p.kind.as_str() }));
        self.store
            .commit(Write::new(Mutation::UpdatePrincipal(p.clone()), ev))
            .await?;
        self.refresh_directory().await?;
        Ok(p)
    }

    /// Issues a token for `principal`; the value is returned once.
    pub async fn create_token(
        &self,
        by: Option<&Principal>,
        principal: &str,
        label: Option<String>,
        expires_at: Option<Timestamp>,
        request_id: Option<&str>,
    ) -> Result<IssuedToken, GovernorError> {
        self.require_admin(by)?;
        if label.as_ref().is_some_and(|l| l.len() > MAX_LABEL) {
            return Err(GovernorError::InvalidRequest(format!(
                "label is longer than {MAX_LABEL} bytes"
            )));
        }
        if expires_at.is_some_and(|e| e <= self.now()) {
            return Err(GovernorError::InvalidRequest(
                "expiry is in the past".into(),
            ));
        }
        let _guard = self.admin_lock.lock().await;
        let owner = self
            .snapshot()
            .principals
            .get(principal)
            .cloned()
            .ok_or_else(|| GovernorError::NotFound(format!("principal `{principal}`")))?;
        if owner.disabled {
            return Err(GovernorError::InvalidRequest(format!(
                "principal `{principal}` is disabled"
            )));
        }
        let issued = token::issue(principal, label, expires_at)?;
        let mut ev = AuditEvent::new(EventKind::TokenCreated).with_request_id(request_id);
        ev.principal = by.map(Principal::reference);
        ev.detail = Some(serde_json::json!({
            "token_id": issued.record.id,
            "for": principal,
            "label": issued.record.label,
            "expires_at": issued.record.expires_at.map(|e| e.rfc3339()),
        }));
        self.store
            .commit(Write::new(Mutation::CreateToken(issued.record.clone()), ev))
            .await?;
        self.refresh_directory().await?;
        Ok(issued)
    }

    /// Revokes a token at once. Admins revoke any token; others their own.
    pub async fn revoke_token(
        &self,
        by: Option<&Principal>,
        id: &str,
        request_id: Option<&str>,
    ) -> Result<crate::TokenRecord, GovernorError> {
        let _guard = self.admin_lock.lock().await;
        let mut rec = self
            .snapshot()
            .tokens
            .get(id)
            .cloned()
            .ok_or_else(|| GovernorError::NotFound(format!("token `{id}`")))?;
        if let Some(b) = by
            && !self.is_admin(b)
            && b.name != rec.principal
        {
            return Err(GovernorError::Forbidden(
                "only administrators revoke other principals' tokens".into(),
            ));
        }
        if rec.revoked_at.is_some() {
            return Ok(rec);
        }
        rec.revoked_at = Some(self.now());
        let mut ev = AuditEvent::new(EventKind::TokenRevoked).with_request_id(request_id);
        ev.principal = by.map(Principal::reference);
        ev.detail = Some(serde_json::json!({ "token_id": rec.id, "for": rec.principal }));
        self.store
            .commit(Write::new(Mutation::UpdateToken(rec.clone()), ev))
            .await?;
        self.refresh_directory().await?;
        Ok(rec)
    }
}
