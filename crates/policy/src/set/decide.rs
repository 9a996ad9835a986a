//! The approval model: evaluate, fail closed on errors, and when denied ask
//! whether a granted approval would allow it.

use cedar_policy::{Decision, Entities, Request, Response};

use super::PolicySet;
use super::context::Approval;
use super::index::Key;
use super::request::Prepared;
use crate::annotations::PolicyMeta;
use crate::{ApprovalFacts, ApprovalRule, Directory, PolicyDecision, Query, QueryError};

/// One evaluation, with ids sorted for stable output.
#[derive(Debug)]
struct Outcome {
    allow: bool,
    /// Determining policy ids.
    policies: Vec<String>,
    /// `(policy id, error)` for every policy that could not be evaluated.
    errors: Vec<(String, String)>,
}

impl Outcome {
    fn of(response: &Response) -> Outcome {
        let mut policies: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        policies.sort();
        let mut errors: Vec<(String, String)> = response
            .diagnostics()
            .errors()
            .map(|e| match e {
                cedar_policy::AuthorizationError::PolicyEvaluationError(e) => {
                    (e.policy_id().to_string(), e.inner().to_string())
                }
            })
            .collect();
        errors.sort();
        Outcome {
            allow: response.decision() == Decision::Allow,
            policies,
            errors,
        }
    }
}

impl PolicySet {
    /// Decides one query (see the crate docs for the approval model):
    ///
    /// 1. Cedar decides with `context.approval` from `facts` (none granted
    ///    when `facts` is `None`).
    /// 2. An `Allow` with any policy evaluation error becomes a `Deny`
    ///    naming the policy (fail closed).
    /// 3. A `Deny` without a granted approval is tried again with a
    ///    hypothetical granted approval; if that allows without errors and a
    ///    determining permit carries `@approval_quorum`, the answer is
    ///    `ApprovalRequired` with that rule (smallest quorum, then id).
    /// 4. With a granted approval, Cedar's first answer is final.
    pub fn decide(
        &self,
        q: &Query<'_>,
        facts: Option<&ApprovalFacts>,
        dir: &Directory,
    ) -> Result<PolicyDecision, QueryError> {
        let prepared = self.prepare(q)?;
        let approval = facts.map_or(Approval::None, Approval::Facts);
        let request = self.request(&prepared, q, approval)?;
        let first = self.evaluate(&prepared, &request, dir.entities());

        if first.allow {
            if first.errors.is_empty() {
                return Ok(self.allow(first.policies));
            }
            return Ok(PolicyDecision::Deny {
                reason: format!("{}; failing closed", errors_sentence(&first.errors)),
                policies: error_ids(&first.errors),
            });
        }

        if !facts.is_some_and(|f| f.granted) {
            let hypothetical = self.request(&prepared, q, Approval::Hypothetical)?;
            let second = self.evaluate(&prepared, &hypothetical, dir.entities());
            if second.allow
                && second.errors.is_empty()
                && let Some(rule) = self.easiest_rule(&second.policies)
            {
                return Ok(PolicyDecision::ApprovalRequired {
                    rule: rule.clone(),
                    policies: second.policies,
                });
            }
        }
        Ok(self.deny(q, &prepared, first))
    }

    /// Evaluates a Cedar request with the index: the same response as
    /// `Authorizer::is_authorized` on the whole set, from only the policies
    /// whose scope can match the request's action and resource type.
    pub fn is_authorized(&self, request: &Request, entities: &Entities) -> Response {
        let bucket = self.bucket_for(request).unwrap_or(&self.full);
        self.authorizer.is_authorized(request, bucket, entities)
    }

    fn bucket_for(&self, request: &Request) -> Option<&cedar_policy::PolicySet> {
        let action = request.action()?;
        let action = self
            .actions
            .get(action.id().unescaped())
            .filter(|i| &i.uid == action)?;
        let principal = request.principal()?;
        let resource = request.resource()?;
        let ty = |uid: &cedar_policy::EntityUid| {
            self.types
                .get(&uid.type_name().to_string())
                .filter(|t| &t.name == uid.type_name())
                .map(|t| t.idx)
        };
        let env = match request.context()?.get("environment") {
            Some(cedar_policy::EvalResult::String(env)) => Some(env),
            _ => None,
        };
        self.index.lookup(&Key {
            action: action.idx,
            principal_type: ty(principal)?,
            resource_type: ty(resource)?,
            resource_id: resource.id().unescaped(),
            environment: env.as_deref(),
        })
    }

    fn evaluate(&self, p: &Prepared<'_>, request: &Request, entities: &Entities) -> Outcome {
        Outcome::of(&self.authorizer.is_authorized(request, p.bucket, entities))
    }

    fn allow(&self, policies: Vec<String>) -> PolicyDecision {
        let obligations = policies
            .iter()
            .filter_map(|id| self.meta.get(id))
            .flat_map(|m| m.obligations.iter().cloned())
            .collect();
        PolicyDecision::Allow {
            policies,
            obligations,
        }
    }

    /// Among the determining policies, the approval rule with the smallest
    /// quorum, ties broken by policy id.
    fn easiest_rule(&self, policies: &[String]) -> Option<&ApprovalRule> {
        policies
            .iter()
            .filter_map(|id| self.meta.get(id).and_then(|m: &PolicyMeta| m.rule.as_ref()))
            .min_by(|a, b| (a.quorum, &a.policy_id).cmp(&(b.quorum, &b.policy_id)))
    }

    fn deny(&self, q: &Query<'_>, p: &Prepared<'_>, outcome: Outcome) -> PolicyDecision {
        let what = format!("`{}` on `{}` in `{}`", q.action, p.resource, q.environment);
        let mut reason = match outcome.policies.first() {
            Some(id) => match self.meta.get(id).and_then(|m| m.message.as_deref()) {
                Some(message) => message.to_owned(),
                None => format!("policy `{id}` forbids {what}"),
            },
            None => format!("no policy permits {what}{}", self.permits_in_scope(p)),
        };
        if !outcome.errors.is_empty() {
            reason.push_str("; ");
            reason.push_str(&errors_sentence(&outcome.errors));
        }
        PolicyDecision::Deny {
            policies: outcome.policies,
            reason,
        }
    }
}

/// How many in-scope permits a deny reason names.
const PERMITS_NAMED: usize = 3;

impl PolicySet {
    /// For a request no permit applied to: the permits written for this
    /// action and these types whose conditions it did not meet, with their
    /// messages, so the reason says who may (e.g. "engineers and CI services
    /// deploy approved changes") rather than only that nobody did. Empty
    /// when no permit mentions the action at all.
    fn permits_in_scope(&self, p: &Prepared<'_>) -> String {
        // Ids are the policies' `@id`s (set at compile time).
        let mut ids: Vec<String> = p
            .bucket
            .policies()
            .filter(|policy| policy.effect() == cedar_policy::Effect::Permit)
            .map(|policy| policy.id().to_string())
            .collect();
        ids.sort();
        let permits: Vec<String> = ids
            .iter()
            .map(
                |id| match self.meta.get(id).and_then(|m| m.message.as_deref()) {
                    Some(message) => format!("`{id}` ({message})"),
                    None => format!("`{id}`"),
                },
            )
            .collect();
        match permits.len() {
            0 => String::new(),
            n if n <= PERMITS_NAMED => format!(
                "; policies that permit it when their conditions hold: {}",
                permits.join(", ")
            ),
            n => format!(
                "; policies that permit it when their conditions hold: {}, and {} more",
                permits[..PERMITS_NAMED].join(", "),
                n - PERMITS_NAMED
            ),
        }
    }
}

fn error_ids(errors: &[(String, String)]) -> Vec<String> {
    let mut ids: Vec<String> = errors.iter().map(|(id, _)| id.clone()).collect();
    ids.dedup();
    ids
}

/// "policy `x` could not be evaluated (…)", plus how many others could not.
fn errors_sentence(errors: &[(String, String)]) -> String {
    let Some((id, error)) = errors.first() else {
        return String::new();
    };
    match error_ids(errors).len() {
        0 | 1 => format!("policy `{id}` could not be evaluated ({error})"),
        n => format!(
            "policy `{id}` could not be evaluated ({error}), nor {} other(s)",
            n - 1
        ),
    }
}
