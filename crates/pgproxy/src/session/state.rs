//! What one session knows, shared by its two directions: the responses it
//! expects from the upstream (in order), and the prepared statements,
//! portals and cursors the upstream holds.
//!
//! Prepared statements and portals are *candidates* until the upstream
//! confirms them (`ParseComplete`, `BindComplete`). A later `Execute` in the
//! same sync segment may rely on a candidate: if the `Parse` failed, the
//! server skips everything up to the next `Sync`, so the `Execute` never
//! runs. Across a `Sync`, only confirmed facts count, and the session waits
//! (a barrier) when an outcome is still in flight.

use crate::classify::{Facts, SessionLookup};
use crate::mask::{MaskPlan, MaskSpec};
use crate::wire::backend::{Fields, RowDescription, TxStatus};
use crate::wire::frontend::Target;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// A prepared statement as the proxy classified it.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub facts: Arc<Facts>,
    pub sql: Arc<str>,
}

/// A bound portal.
#[derive(Debug, Clone)]
pub struct Portal {
    pub statement: String,
    /// `None`: the statement was unknown when bound.
    pub stmt: Option<Stmt>,
    /// Parameters rendered for the decision context.
    pub params: Vec<String>,
    /// The allow under which a suspended portal keeps running.
    pub allowed: Option<Allowed>,
}

/// An allow that a portal continues under.
#[derive(Debug, Clone)]
pub struct Allowed {
    pub decision_id: String,
    pub mask: Option<Arc<MaskSpec>>,
}

/// A name whose value the upstream may or may not have yet.
#[derive(Debug)]
pub struct Slot<T> {
    pub confirmed: Option<T>,
    /// (generation, segment, value) of messages still in flight.
    pub candidates: Vec<(u64, u64, T)>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            confirmed: None,
            candidates: Vec::new(),
        }
    }
}

/// The answer to "what is `name` when this message runs?"
#[derive(Debug)]
pub enum Lookup<T> {
    Known(T),
    Unknown,
    /// Depends on a response still in flight from an earlier segment.
    Wait,
}

impl<T: Clone> Slot<T> {
    fn lookup(&self, segment: u64) -> Lookup<T> {
        if let Some((_, _, v)) = self
            .candidates
            .iter()
            .filter(|(_, s, _)| *s == segment)
            .max_by_key(|(g, _, _)| *g)
        {
            return Lookup::Known(v.clone());
        }
        if !self.candidates.is_empty() {
            return Lookup::Wait;
        }
        match &self.confirmed {
            Some(v) => Lookup::Known(v.clone()),
            None => Lookup::Unknown,
        }
    }

    /// Settles candidate `generation`: confirmed, failed, or skipped.
    fn settle(&mut self, generation: u64, outcome: Settle) {
        let Some(i) = self
            .candidates
            .iter()
            .position(|(g, _, _)| *g == generation)
        else {
            return;
        };
        let (_, _, v) = self.candidates.remove(i);
        match outcome {
            Settle::Confirmed => self.confirmed = Some(v),
            Settle::FailedReplacing => self.confirmed = None,
            Settle::Failed | Settle::Skipped => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    Confirmed,
    /// Failed, and the old value is gone too (unnamed statement/portal).
    FailedReplacing,
    Failed,
    Skipped,
}

/// An allowed statement the upstream is running.
#[derive(Debug)]
pub struct Run {
    pub decision_id: String,
    pub started: Instant,
    pub rows: Option<u64>,
    pub error: Option<String>,
    pub mask: Option<Arc<MaskSpec>>,
    /// The plan for the current result set.
    pub plan: Option<MaskPlan>,
    /// Changes the schema: catalog caches are stale afterwards.
    pub ddl: bool,
}

/// Session effects of a simple query, applied as its commands complete.
#[derive(Debug, Default)]
pub struct SqlEffects {
    pub prepares: VecDeque<(String, Stmt)>,
    pub deallocates: VecDeque<Option<String>>,
    pub cursors: VecDeque<(String, Stmt)>,
}

/// A response the upstream owes us, in order.
#[derive(Debug)]
pub enum Pending {
    Query {
        run: Option<Run>,
        effects: SqlEffects,
        /// May change how later text lexes (settings, transactions).
        settings: bool,
    },
    Parse {
        name: String,
        generation: u64,
    },
    Bind {
        portal: String,
        generation: u64,
    },
    Describe {
        target: Target,
        name: String,
    },
    Execute {
        portal: String,
        statement: String,
        run: Option<Run>,
        settings: bool,
    },
    Close {
        target: Target,
        name: String,
    },
    Sync,
    /// A refusal travelling through the upstream so that it arrives in
    /// order: the upstream's error for it is replaced by `fields`.
    Probe {
        fields: Fields,
        simple: bool,
    },
    Barrier(oneshot::Sender<()>),
}

impl Pending {
    fn may_change_settings(&self) -> bool {
        matches!(
            self,
            Pending::Query { settings: true, .. } | Pending::Execute { settings: true, .. }
        )
    }
}

/// Session state shared by both directions.
#[derive(Debug)]
pub struct State {
    pub queue: VecDeque<Pending>,
    /// The upstream is skipping messages until `Sync` (as the responses
    /// show it).
    pub in_error: bool,
    /// Incremented at every `Sync` sent.
    pub segment: u64,
    /// `Sync`s answered: the segment the upstream is answering.
    pub acked_segment: u64,
    /// The segment in which the upstream last started skipping.
    pub error_segment: Option<u64>,
    generation_counter: u64,
    pub statements: HashMap<String, Slot<Stmt>>,
    pub portals: HashMap<String, Slot<Portal>>,
    pub cursors: HashMap<String, Stmt>,
    pub rowdesc_statement: HashMap<String, Arc<RowDescription>>,
    pub rowdesc_portal: HashMap<String, Arc<RowDescription>>,
    pub standard_conforming_strings: bool,
    pub client_encoding: String,
    pub search_path: Vec<String>,
    pub tx: TxStatus,
}

impl State {
    pub fn new() -> State {
        State {
            queue: VecDeque::new(),
            in_error: false,
            segment: 0,
            acked_segment: 0,
            error_segment: None,
            generation_counter: 0,
            statements: HashMap::new(),
            portals: HashMap::new(),
            cursors: HashMap::new(),
            rowdesc_statement: HashMap::new(),
            rowdesc_portal: HashMap::new(),
            standard_conforming_strings: true,
            client_encoding: "UTF8".into(),
            search_path: vec!["public".into()],
            tx: TxStatus::Idle,
        }
    }

    pub fn next_gen(&mut self) -> u64 {
        self.generation_counter += 1;
        self.generation_counter
    }

    /// Whether the upstream will skip what is sent now (an extended-protocol
    /// error happened in the current segment).
    pub fn skipping(&self) -> bool {
        self.error_segment == Some(self.segment)
    }

    /// Whether a statement in flight may change how text lexes.
    pub fn settings_in_flight(&self) -> bool {
        self.queue.iter().any(Pending::may_change_settings)
    }

    pub fn add_statement(&mut self, name: &str, stmt: Stmt) -> u64 {
        let generation = self.next_gen();
        let seg = self.segment;
        self.statements
            .entry(name.to_owned())
            .or_default()
            .candidates
            .push((generation, seg, stmt));
        generation
    }

    pub fn add_portal(&mut self, name: &str, portal: Portal) -> u64 {
        let generation = self.next_gen();
        let seg = self.segment;
        self.portals
            .entry(name.to_owned())
            .or_default()
            .candidates
            .push((generation, seg, portal));
        generation
    }

    pub fn statement(&self, name: &str) -> Lookup<Stmt> {
        if self.skipping() {
            // The upstream will skip the message: any answer is moot.
            return Lookup::Unknown;
        }
        match self.statements.get(name) {
            Some(slot) => slot.lookup(self.segment),
            None => Lookup::Unknown,
        }
    }

    pub fn portal(&self, name: &str) -> Lookup<Portal> {
        if self.skipping() {
            return Lookup::Unknown;
        }
        match self.portals.get(name).map(|s| s.lookup(self.segment)) {
            Some(Lookup::Unknown) | None => match self.cursors.get(name) {
                // A cursor declared in SQL is a portal too.
                Some(stmt) => Lookup::Known(Portal {
                    statement: String::new(),
                    stmt: Some(stmt.clone()),
                    params: Vec::new(),
                    allowed: None,
                }),
                None => Lookup::Unknown,
            },
            Some(other) => other,
        }
    }

    /// Records that the allowed portal `name` may continue (after
    /// `PortalSuspended`) under `allowed`.
    pub fn portal_allowed(&mut self, name: &str, allowed: Allowed) {
        if let Some(slot) = self.portals.get_mut(name) {
            if let Some((_, _, p)) = slot.candidates.iter_mut().max_by_key(|(g, _, _)| *g) {
                p.allowed = Some(allowed.clone());
            }
            if let Some(p) = slot.confirmed.as_mut() {
                p.allowed = Some(allowed);
            }
        }
    }

    pub fn settle_statement(&mut self, name: &str, generation: u64, outcome: Settle) {
        let outcome = match outcome {
            Settle::Failed if name.is_empty() => Settle::FailedReplacing,
            o => o,
        };
        if let Some(s) = self.statements.get_mut(name) {
            s.settle(generation, outcome);
        }
    }

    pub fn settle_portal(&mut self, name: &str, generation: u64, outcome: Settle) {
        // A failed Bind may or may not have dropped the old portal.
        let outcome = match outcome {
            Settle::Failed => Settle::FailedReplacing,
            o => o,
        };
        if let Some(s) = self.portals.get_mut(name) {
            s.settle(generation, outcome);
        }
    }

    /// `DISCARD ALL`.
    pub fn discard_all(&mut self) {
        for s in self.statements.values_mut() {
            s.confirmed = None;
        }
        for p in self.portals.values_mut() {
            p.confirmed = None;
        }
        self.cursors.clear();
        self.rowdesc_statement.clear();
        self.rowdesc_portal.clear();
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// Session facts for resolving `EXECUTE` and `FETCH` in SQL text.
pub struct StateLookup<'a>(pub &'a State);

impl SessionLookup for StateLookup<'_> {
    fn prepared(&self, name: &str) -> Option<Arc<Facts>> {
        match self.0.statements.get(name)?.lookup(self.0.segment) {
            Lookup::Known(s) => Some(s.facts),
            _ => None,
        }
    }

    fn cursor(&self, name: &str) -> Option<Arc<Facts>> {
        self.0.cursors.get(name).map(|s| Arc::clone(&s.facts))
    }
}
