//! One module per page (or family of pages).

pub mod approval;
pub mod approvals;
pub mod audit;
pub mod change;
pub mod change_report;
pub mod changes;
pub mod directory;
pub mod gate_table;
pub mod login;
pub mod render;
