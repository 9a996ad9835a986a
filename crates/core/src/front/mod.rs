//! The front driver: one order for every front.
//!
//! A front (the decision API, `countersign run`, the PostgreSQL proxy, the
//! MCP gateway, the HTTP gateway) only translates. It implements the phase
//! hooks of [`Front`]; the [`Driver`] calls them, always in this order:
//!
//! ```text
//!  decode (the front, before the driver: bytes → its own typed request)
//!    │
//!  1 authenticate   credential → Principal      (failures audited, one refusal)
//!  2 translate      request → DecisionInput      (or Unmatched: audited, refused)
//!  3 decide         Governor::decide             (durable before the answer)
//!  4 hold           Governor::await_approval     (pending only; bounded, cancellable)
//!  5 obligations    every kind the allow carries must be one the front enforces
//!  6 forward        the front acts, holding an `Allowed`
//!  7 report         `Allowed::report(outcome)`   (consumes it: exactly one outcome)
//! ```
//!
//! Every refusal is a [`Refusal`] with a stable code; the front chooses only
//! how to say it (an HTTP problem, a SQLSTATE, a JSON-RPC error). No front
//! decides, holds or writes to the store on its own.
//!
//! Fronts whose requests do not fit one call (a PostgreSQL session decides
//! a statement in the middle of its own protocol state) call the same
//! phases one by one: [`Driver::authenticate`], [`Driver::govern`] (decide,
//! hold, obligations) and [`Allowed::report`].

mod allowed;
mod driver;
mod refusal;

pub use allowed::Allowed;
pub use driver::Driver;
pub use refusal::Refusal;

use crate::approval::Approval;
use crate::governor::{AllowAck, DecisionInput};
use crate::principal::Principal;
use crate::verdict::Decision;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// What a front is, to the driver.
#[derive(Debug, Clone, Copy)]
pub struct FrontSpec {
    /// Names the front in audit entries (`channel`) and logs: `api`,
    /// `postgres`, `mcp`, `http_gateway`, `run`.
    pub name: &'static str,
    /// Which obligations the front carries out.
    pub obligations: Obligations,
    /// Longest hold for an approval; zero answers a pending request at once
    /// (its client waits on its own, e.g. by long-polling the approval).
    pub hold: Duration,
    /// While holding, [`Front::progress`] is called at least this often.
    pub heartbeat: Option<Duration>,
}

/// The obligations a front can carry out. An allow carrying any other kind
/// is refused: what cannot be enforced is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obligations {
    /// Only these kinds (e.g. `["mask"]` for the PostgreSQL proxy; none
    /// for a front that forwards opaque bytes).
    Enforces(&'static [&'static str]),
    /// The front answers with the decision and its client acts (the
    /// decision API): the obligations travel with the allow.
    PassedToClient,
}

impl Obligations {
    pub fn enforces(self, kind: &str) -> bool {
        match self {
            Obligations::Enforces(kinds) => kinds.contains(&kind),
            Obligations::PassedToClient => true,
        }
    }
}

/// What translation made of a request.
#[derive(Debug)]
pub enum Translated<R> {
    /// The action to decide.
    Input(DecisionInput),
    /// No rule maps it to an action: refused, and audited as
    /// `request.rejected` by the driver.
    Unmatched(Unmatched),
    /// The request is malformed for this front (a bad path, a body over
    /// the limit): answered as is. Nothing was asked, nothing is audited.
    Reply(R),
}

/// A request no rule maps to an action.
#[derive(Debug, Clone)]
pub struct Unmatched {
    /// The environment the request was addressed to, when known.
    pub environment: Option<String>,
    /// Why nothing matched, for the client and the audit entry.
    pub reason: String,
    /// What the front saw (method and path, tool name …), for the entry.
    pub detail: Value,
}

/// The front's answer when a request is about to be held.
#[derive(Debug)]
pub enum Held {
    /// Hold it (the front may already have told its client).
    Wait,
    /// The request cannot be held: refuse it with
    /// [`Refusal::Unholdable`]. When `cancel_approval`, the approval is
    /// cancelled too, because no retry could ever redeem it.
    Refuse { why: String, cancel_approval: bool },
}

/// Phase hooks. Only the [`Driver`] calls them, in the order in the module
/// documentation; the defaults are what a front that needs nothing there
/// does.
pub trait Front: Send + Sync {
    /// A decoded request, as the front's protocol gave it.
    type Request: Send + Sync;
    /// What the front answers its client.
    type Reply: Send;

    fn spec(&self) -> FrontSpec;

    /// Phase 1: the credential the request presents (a bearer token);
    /// `None` is refused without an audit entry (no credential, nothing to
    /// record; an unauthenticated client cannot grow the log by asking).
    fn credential<'r>(&self, req: &'r Self::Request) -> Option<&'r str>;

    /// Phase 2: what is asked. May read more of the request (a body whose
    /// hash the approval binds).
    fn translate(
        &self,
        who: &Principal,
        req: &mut Self::Request,
        request_id: &str,
    ) -> impl Future<Output = Translated<Self::Reply>> + Send;

    /// How durable an allow must be before the front acts on it.
    fn allow_ack(&self, _req: &Self::Request, _input: &DecisionInput) -> AllowAck {
        AllowAck::Durable
    }

    /// Phase 4, once, when the request is about to be held: the front may
    /// tell its client (a NOTICE, a progress notification) or refuse.
    fn held(
        &self,
        _req: &Self::Request,
        _decision: &Decision,
    ) -> impl Future<Output = Held> + Send {
        async { Held::Wait }
    }

    /// Phase 4, while holding: a vote landed, or a heartbeat passed.
    fn progress(&self, _req: &Self::Request, _approval: &Approval) {}

    /// Phase 4: completes when the front's client gives up (disconnects,
    /// sends a cancel); the approval stays for a later identical request.
    fn cancelled(&self, _req: &Self::Request) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }

    /// Phases 6 and 7: act on the allowed request, then report what
    /// happened through `allowed` (now, or when a streamed response ends).
    fn forward(
        &self,
        req: Self::Request,
        allowed: Allowed,
        request_id: &str,
    ) -> impl Future<Output = Self::Reply> + Send;

    /// Any refusal, said the front's way.
    fn refuse(&self, req: &Self::Request, refusal: Refusal, request_id: &str) -> Self::Reply;
}
