//! A change's gate report as a table, shared by the change page and the
//! page of its review approval: the gates as they stand now (one row per
//! gate, reviews resolved: `countersign_server::change_view`), status
//! first so it is never the column that scrolls out of view.

use crate::html::e;
use countersign_core::change::{Change, GateStatus};
use countersign_server::change_view::current_gates;
use std::fmt::Write as _;

/// The card with the gate table; `id` names its heading (one per page).
pub fn gate_report(c: &Change, id: &str) -> String {
    let gates = current_gates(c);
    let mut out = format!(
        "<section class=\"card\"><h2 id=\"{id}\">Gate report</h2>",
        id = e(id)
    );
    if gates.is_empty() {
        out.push_str("<p class=\"empty\">No gates applied.</p></section>");
        return out;
    }
    let failed = gates
        .iter()
        .filter(|g| g.status == GateStatus::Fail)
        .count();
    if failed > 0 {
        let _ = write!(
            out,
            "<p role=\"status\" class=\"error\" id=\"gates-failed\">{failed} of {} gates failed.</p>",
            gates.len()
        );
    }
    let _ = write!(
        out,
        "<div class=\"scroll\"><table class=\"gates\" aria-labelledby=\"{id}\"><thead><tr>\
         <th scope=\"col\">Status</th><th scope=\"col\">Gate</th><th scope=\"col\">Rule</th>\
         <th scope=\"col\">Expected</th><th scope=\"col\">Measured</th></tr></thead><tbody>",
        id = e(id)
    );
    for g in &gates {
        let status = g.status.as_str();
        let measured = g
            .measured
            .as_deref()
            .map(|m| e(m).to_string())
            .unwrap_or_else(|| "<span class=\"empty\">not measured</span>".to_owned());
        let _ = write!(
            out,
            "<tr class=\"gate gate-{status}\" data-gate=\"{gate}\">\
             <td><span class=\"badge gate-{status}\">{status}</span></td><td><code>{gate}</code></td>\
             <td>{rule}</td><td>{expected}</td><td>{measured}</td></tr>",
            gate = e(&g.gate),
            rule = e(&g.rule),
            expected = e(&g.expected),
        );
    }
    out.push_str("</tbody></table></div>");
    if gates.iter().any(|g| g.status == GateStatus::Pending) {
        out.push_str(
            "<p class=\"help\">Pending gates are decided later: reviews when voted, soak, wait \
             and freeze at deploy.</p>",
        );
    }
    out.push_str("</section>");
    out
}
