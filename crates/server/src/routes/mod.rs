pub mod approvals;
pub mod audit;
pub mod changes;
pub mod decisions;
pub mod directory;
pub mod health;
pub mod policies;
