//! Upstream → client: relay every response in order, matched against the
//! queue of responses the frontend expects. Refusal probes get their error
//! replaced; rows of masked results are masked; prepared statements and
//! portals are confirmed; outcomes are reported to the governor.

use super::Session;
use super::state::{Allowed, Pending, Run, Settle};
use crate::error::ProxyError;
use crate::io::BoxIo;
use crate::mask::{MaskPlan, MaskSpec};
use crate::wire::FrameReader;
use crate::wire::backend::{BackendMessage, DataRow, Fields, RowDescription};
use crate::wire::frontend::Target;
use countersign_core::verdict::Outcome;
use std::sync::Arc;
use tokio::io::ReadHalf;

const FLUSH_AT: usize = 64 * 1024;

pub(super) async fn run(
    s: &Session,
    mut up: FrameReader<ReadHalf<BoxIo>>,
) -> Result<(), ProxyError> {
    let mut out: Vec<u8> = Vec::with_capacity(FLUSH_AT);
    loop {
        if !out.is_empty() && (!up.has_frame() || out.len() >= FLUSH_AT) {
            s.write_client(&out).await?;
            out.clear();
        }
        let Some(frame) = up.next().await? else {
            if !out.is_empty() {
                s.write_client(&out).await?;
            }
            return Ok(());
        };
        let msg = BackendMessage::decode(&frame)?;
        match msg {
            BackendMessage::RowDescription(desc) => {
                on_row_description(s, desc).await;
                out.extend_from_slice(&frame.raw);
            }
            BackendMessage::DataRow(row) => match mask_plan(s).await {
                None => out.extend_from_slice(&frame.raw),
                Some(plan) => {
                    let mut row: DataRow = row;
                    plan.apply(&mut row);
                    row.encode(&mut out);
                }
            },
            BackendMessage::ParseComplete => {
                let mut st = s.st();
                if let Some(Pending::Parse { name, generation }) = pop_head(&mut st.queue) {
                    st.settle_statement(&name, generation, Settle::Confirmed);
                }
                drop(st);
                out.extend_from_slice(&frame.raw);
            }
            BackendMessage::BindComplete => {
                let mut st = s.st();
                if let Some(Pending::Bind { portal, generation }) = pop_head(&mut st.queue) {
                    st.rowdesc_portal.remove(&portal);
                    st.settle_portal(&portal, generation, Settle::Confirmed);
                }
                drop(st);
                out.extend_from_slice(&frame.raw);
            }
            BackendMessage::CloseComplete => {
                let mut st = s.st();
                if let Some(Pending::Close { target, name }) = pop_head(&mut st.queue) {
                    match target {
                        Target::Statement => {
                            if let Some(slot) = st.statements.get_mut(&name) {
                                slot.confirmed = None;
                            }
                            st.rowdesc_statement.remove(&name);
                        }
                        Target::Portal => {
                            if let Some(slot) = st.portals.get_mut(&name) {
                                slot.confirmed = None;
                            }
                            st.rowdesc_portal.remove(&name);
                        }
                    }
                }
                drop(st);
                out.extend_from_slice(&frame.raw);
            }
            BackendMessage::NoData => {
                let mut st = s.st();
                if let Some(Pending::Describe { target, name }) = pop_head(&mut st.queue) {
                    let empty = Arc::new(RowDescription::default());
                    match target {
                        Target::Statement => st.rowdesc_statement.insert(name, empty),
                        Target::Portal => st.rowdesc_portal.insert(name, empty),
                    };
                }
                drop(st);
                out.extend_from_slice(&frame.raw);
            }
            BackendMessage::CommandComplete(cc) => {
                let rows = cc.rows();
                let mut st = s.st();
                let mut finished = None;
                let mut invalidate = false;
                match head(&mut st.queue) {
                    Some(Pending::Query { run, effects, .. }) => {
                        if let Some(r) = run.as_mut() {
                            if let Some(n) = rows {
                                r.rows = Some(r.rows.unwrap_or(0) + n);
                            }
                            r.plan = None;
                            invalidate = r.ddl;
                        }
                        let tag = cc.tag.as_str();
                        let mut effects = std::mem::take(effects);
                        apply_effect(&mut st, tag, &mut effects);
                        if let Some(Pending::Query { effects: e, .. }) = head(&mut st.queue) {
                            *e = effects;
                        }
                    }
                    Some(Pending::Execute { .. }) => {
                        if let Some(Pending::Execute {
                            run: Some(mut r), ..
                        }) = pop_head(&mut st.queue)
                        {
                            r.rows = rows;
                            invalidate = r.ddl;
                            finished = Some(r);
                        }
                    }
                    _ => {}
                }
                drop(st);
                if invalidate {
                    s.catalog.invalidate();
                }
                if let Some(r) = finished {
                    report(s, r, "executed");
                }
                out.extend_from_slice(&frame.raw);
            }
            BackendMessage::EmptyQueryResponse => {
                let mut st = s.st();
                if matches!(head(&mut st.queue), Some(Pending::Execute { .. }))
                    && let Some(Pending::Execute { run: Some(r), .. }) = pop_head(&mut st.queue)
                {
                    drop(st);
                    report(s, r, "executed");
                }
                out.extend_from_slice(&frame.raw);
            }
            BackendMessage::PortalSuspended => {
                let mut st = s.st();
                if let Some(Pending::Execute { portal, run, .. }) = pop_head(&mut st.queue)
                    && let Some(r) = run
                {
                    st.portal_allowed(
                        &portal,
                        Allowed {
                            decision_id: r.decision_id,
                            mask: r.mask,
                        },
                    );
                }
                drop(st);
                out.extend_from_slice(&frame.raw);
            }
            BackendMessage::ErrorResponse(fields) => {
                on_error(s, fields, &frame.raw, &mut out);
            }
            BackendMessage::ReadyForQuery(status) => {
                let mut reports = Vec::new();
                {
                    let mut st = s.st();
                    st.tx = status;
                    st.in_error = false;
                    while let Some(p) = st.queue.pop_front() {
                        match p {
                            Pending::Sync => {
                                st.acked_segment += 1;
                                break;
                            }
                            Pending::Query { run, .. } => {
                                if let Some(r) = run {
                                    let status = if r.error.is_some() {
                                        "failed"
                                    } else {
                                        "executed"
                                    };
                                    reports.push((r, status));
                                }
                                break;
                            }
                            Pending::Probe { simple: true, .. } => break,
                            Pending::Execute { run: Some(r), .. } => reports.push((r, "skipped")),
                            Pending::Parse { name, generation } => {
                                st.settle_statement(&name, generation, Settle::Skipped)
                            }
                            Pending::Bind { portal, generation } => {
                                st.settle_portal(&portal, generation, Settle::Skipped)
                            }
                            Pending::Barrier(tx) => {
                                let _ = tx.send(());
                            }
                            _ => {}
                        }
                    }
                    fire_barriers_at_head(&mut st.queue);
                }
                for (r, status) in reports {
                    if r.ddl {
                        s.catalog.invalidate();
                    }
                    report(s, r, status);
                }
                out.extend_from_slice(&frame.raw);
            }
            BackendMessage::ParameterStatus(p) => {
                let unsafe_now = {
                    let mut st = s.st();
                    match p.name.as_str() {
                        "standard_conforming_strings" => {
                            st.standard_conforming_strings = p.value == "on";
                        }
                        "client_encoding" => st.client_encoding = p.value.clone(),
                        _ => {}
                    }
                    super::startup::unsafe_encoding(&st.client_encoding)
                };
                out.extend_from_slice(&frame.raw);
                if unsafe_now {
                    Fields::new(
                        "FATAL",
                        "22023",
                        format!(
                            "countersign: client encoding \"{}\" is not supported; closing the session",
                            p.value
                        ),
                    )
                    .encode_error(&mut out);
                    s.write_client(&out).await?;
                    return Err(ProxyError::Protocol("unsafe client encoding".into()));
                }
            }
            BackendMessage::ParameterDescription(_)
            | BackendMessage::NoticeResponse(_)
            | BackendMessage::Notification(_)
            | BackendMessage::CopyInResponse(_)
            | BackendMessage::CopyOutResponse(_)
            | BackendMessage::CopyBothResponse(_)
            | BackendMessage::CopyData(_)
            | BackendMessage::CopyDone => out.extend_from_slice(&frame.raw),
            // Never relayed: the upstream's key (the client has ours), and
            // messages that make no sense after startup.
            BackendMessage::BackendKeyData(_)
            | BackendMessage::Authentication(_)
            | BackendMessage::NegotiateProtocolVersion { .. }
            | BackendMessage::FunctionCallResponse(_) => {
                tracing::debug!(session = s.id, tag = %char::from(frame.tag), "postgres: dropped an unexpected upstream message");
            }
        }
        {
            let mut st = s.st();
            fire_barriers_at_head(&mut st.queue);
        }
    }
}

fn fire_barriers_at_head(q: &mut std::collections::VecDeque<Pending>) {
    while matches!(q.front(), Some(Pending::Barrier(_))) {
        if let Some(Pending::Barrier(tx)) = q.pop_front() {
            let _ = tx.send(());
        }
    }
}

fn head(q: &mut std::collections::VecDeque<Pending>) -> Option<&mut Pending> {
    fire_barriers_at_head(q);
    q.front_mut()
}

fn pop_head(q: &mut std::collections::VecDeque<Pending>) -> Option<Pending> {
    fire_barriers_at_head(q);
    q.pop_front()
}

/// Applies a completed SQL command's effect on session names.
fn apply_effect(st: &mut super::state::State, tag: &str, effects: &mut super::state::SqlEffects) {
    match tag {
        "PREPARE" => {
            if let Some((name, stmt)) = effects.prepares.pop_front() {
                let slot = st.statements.entry(name).or_default();
                slot.confirmed = Some(stmt);
            }
        }
        "DEALLOCATE" | "DEALLOCATE ALL" => match effects.deallocates.pop_front() {
            Some(Some(name)) => {
                if let Some(slot) = st.statements.get_mut(&name) {
                    slot.confirmed = None;
                }
            }
            Some(None) => {
                for slot in st.statements.values_mut() {
                    slot.confirmed = None;
                }
            }
            None => {}
        },
        "DECLARE CURSOR" => {
            if let Some((name, stmt)) = effects.cursors.pop_front() {
                st.cursors.insert(name, stmt);
            }
        }
        "DISCARD ALL" => st.discard_all(),
        _ => {}
    }
}

fn on_error(s: &Session, fields: Fields, raw: &[u8], out: &mut Vec<u8>) {
    let mut reports = Vec::new();
    let mut st = s.st();
    let acked = st.acked_segment;
    let mut extended_error = true;
    let mut replacement = None;
    match head(&mut st.queue) {
        Some(Pending::Query { run, .. }) => {
            extended_error = false;
            if let Some(r) = run.as_mut() {
                r.error = fields.message().map(str::to_owned);
            }
        }
        Some(Pending::Probe {
            fields: ours,
            simple,
        }) => {
            replacement = Some(ours.clone());
            extended_error = !*simple;
            if !*simple {
                st.queue.pop_front();
            }
        }
        Some(Pending::Sync) | None => {
            // An error at Sync (e.g. an implicit commit failed), or an
            // asynchronous one (the server is shutting down).
            extended_error = false;
        }
        Some(_) => match st.queue.pop_front() {
            Some(Pending::Execute {
                run: Some(mut r), ..
            }) => {
                r.error = fields.message().map(str::to_owned);
                reports.push(r);
            }
            Some(Pending::Parse { name, generation }) => {
                st.settle_statement(&name, generation, super::state::Settle::Failed)
            }
            Some(Pending::Bind { portal, generation }) => {
                st.settle_portal(&portal, generation, super::state::Settle::Failed)
            }
            _ => {}
        },
    }
    if extended_error {
        st.in_error = true;
        st.error_segment = Some(acked);
        // Nothing answers the rest of this segment: release the barriers
        // in it (not those after its Sync, whose wait still matters).
        let end = st
            .queue
            .iter()
            .position(|p| matches!(p, Pending::Sync))
            .unwrap_or(st.queue.len());
        let mut i = 0;
        while i < end.min(st.queue.len()) {
            if matches!(st.queue.get(i), Some(Pending::Barrier(_))) {
                st.queue.remove(i);
            } else {
                i += 1;
            }
        }
    }
    drop(st);
    for r in reports {
        report(s, r, "failed");
    }
    match replacement {
        Some(ours) => ours.encode_error(out),
        None => out.extend_from_slice(raw),
    }
}

/// Records the RowDescription a Describe asked for, or prepares the mask
/// plan of a simple query's result set.
async fn on_row_description(s: &Session, desc: RowDescription) {
    let desc = Arc::new(desc);
    let spec = {
        let mut st = s.st();
        match head(&mut st.queue) {
            Some(Pending::Describe { .. }) => {
                if let Some(Pending::Describe { target, name }) = st.queue.pop_front() {
                    match target {
                        Target::Statement => st.rowdesc_statement.insert(name, desc),
                        Target::Portal => st.rowdesc_portal.insert(name, desc),
                    };
                }
                return;
            }
            Some(Pending::Query { run: Some(r), .. }) => r.mask.clone(),
            _ => None,
        }
    };
    if let Some(spec) = spec {
        let plan = plan_for(s, &spec, Some(&desc)).await;
        let mut st = s.st();
        if let Some(Pending::Query { run: Some(r), .. }) = head(&mut st.queue) {
            r.plan = Some(plan);
        }
    }
}

/// The mask plan for the current DataRow, if its result is masked.
async fn mask_plan(s: &Session) -> Option<MaskPlan> {
    let (spec, desc) = {
        let mut st = s.st();
        let lookup = match st.queue.front() {
            Some(Pending::Execute {
                portal, statement, ..
            }) => st
                .rowdesc_portal
                .get(portal)
                .or_else(|| st.rowdesc_statement.get(statement))
                .cloned(),
            _ => None,
        };
        match head(&mut st.queue) {
            Some(Pending::Query { run: Some(r), .. }) => {
                r.mask.as_ref()?;
                return Some(r.plan.clone().unwrap_or_else(MaskPlan::everything));
            }
            Some(Pending::Execute { run: Some(r), .. }) => {
                let spec = r.mask.clone()?;
                if let Some(p) = &r.plan {
                    return Some(p.clone());
                }
                (spec, lookup)
            }
            _ => return None,
        }
    };
    let plan = plan_for(s, &spec, desc.as_deref()).await;
    let mut st = s.st();
    if let Some(Pending::Execute { run: Some(r), .. }) = head(&mut st.queue) {
        r.plan = Some(plan.clone());
    }
    Some(plan)
}

async fn plan_for(s: &Session, spec: &MaskSpec, desc: Option<&RowDescription>) -> MaskPlan {
    let Some(desc) = desc else {
        return MaskPlan::everything();
    };
    let mut oids: Vec<u32> = desc
        .fields
        .iter()
        .map(|f| f.table_oid)
        .filter(|&o| o != 0)
        .collect();
    oids.sort_unstable();
    oids.dedup();
    let rels = match s.catalog.relations(&oids).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "postgres: catalog unavailable; masking every column");
            return MaskPlan::everything();
        }
    };
    MaskPlan::new(spec, desc, &rels)
}

/// Reports an allowed statement's outcome, without holding up the relay.
fn report(s: &Session, r: Run, status: &str) {
    let outcome = Outcome {
        status: status.to_owned(),
        exit_code: None,
        rows_affected: r.rows,
        error: r.error.map(|e| crate::session::truncate(&e, 1000)),
        duration_ms: Some(u64::try_from(r.started.elapsed().as_millis()).unwrap_or(u64::MAX)),
        ..Outcome::default()
    };
    let report = countersign_core::governor::OutcomeReport {
        principal: Arc::clone(&s.principal),
        decision_id: r.decision_id,
        request_id: None,
        outcome,
    };
    match s.shared.outcomes.get() {
        Some(reporter) => reporter.send(report),
        None => {
            let governor = Arc::clone(&s.shared.governor);
            tokio::spawn(async move {
                let _ = governor
                    .report_outcome(&report.principal, &report.decision_id, report.outcome, None)
                    .await;
            });
        }
    }
}
