//! Command-line flags (clap derive). Validation into a config happens in
//! `config.rs`; commands receive validated values.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "countersign",
    version,
    about = "Governance gateway: identify, authorize, approve and audit every action of AI agents, people and pipelines"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where a client command finds the server and its token.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// Countersign server URL.
    #[arg(
        long,
        env = "COUNTERSIGN_SERVER",
        default_value = "http://127.0.0.1:8750",
        global = true
    )]
    pub server: String,
    /// API token (never pass it on the command line in shared shells; the
    /// environment variable is read when the flag is absent).
    #[arg(long, env = "COUNTERSIGN_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print raw JSON instead of a human summary.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a data directory: config, Cedar schema and starter policies,
    /// signing key, database, and a first admin (its token printed once).
    Init(InitArgs),
    /// Run the gateway.
    Serve(ServeArgs),
    /// Manage principals (users, agents, services).
    #[command(subcommand)]
    Principals(PrincipalsCmd),
    /// Manage API tokens.
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// List, inspect and vote on approvals.
    #[command(subcommand)]
    Approvals(ApprovalsCmd),
    /// Inspect the notification outbox (Slack, Teams, webhooks).
    #[command(subcommand)]
    Notifications(NotificationsCmd),
    /// Ask before running a command; wait for approval when policy says so.
    Run(RunArgs),
    /// Validate and test policies.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Verify and read the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Change authorization: submit a model, prompt, pipeline or policy
    /// version with its evidence; follow its gates and reviews.
    #[command(subcommand)]
    Change(ChangeCmd),
    /// What version of each subject is live in each environment, since
    /// when, approved by whom, with its metrics.
    Inventory {
        /// Only this environment.
        #[arg(long = "env")]
        environment: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChangeCmd {
    /// Submit a change; prints its gate report. Exits 1 when a check fails.
    Submit(ChangeSubmitArgs),
    /// A change's state and gates; `--wait` waits for its review to end.
    Status {
        id: String,
        /// Wait (up to this long, e.g. 30m) while it awaits review.
        #[arg(long)]
        wait: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List changes, newest first.
    List {
        #[arg(long)]
        kind: Option<String>,
        /// e.g. 'Model::"fraud-detector"'.
        #[arg(long)]
        subject: Option<String>,
        #[arg(long = "env")]
        environment: Option<String>,
        /// awaiting_review, approved, deployed … or all.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        remote: Remote,
    },
    /// Everything about one change: evidence, gates, reviews, report.
    Show {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Report that the change's allowed deploy ran (for CI that asked for
    /// the deploy decision itself; `countersign run` reports on its own).
    Deployed {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Withdraw a change awaiting review or approved but not deployed (its
    /// author or an administrator); its open reviews are cancelled.
    Cancel {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Record that a deployed change was rolled back: the deployment before
    /// it is live again.
    Rollback {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Args)]
pub struct ChangeSubmitArgs {
    /// model, prompt, pipeline, policy, or a kind from the config.
    #[arg(long)]
    pub kind: String,
    /// What changes, e.g. 'Model::"fraud-detector"'.
    #[arg(long)]
    pub subject: String,
    /// The version, e.g. v2 or a git sha.
    #[arg(long)]
    pub version: String,
    /// The artifact file; its SHA-256 is what a deploy must present.
    #[arg(
        long,
        conflicts_with = "artifact_sha256",
        required_unless_present = "artifact_sha256"
    )]
    pub artifact: Option<PathBuf>,
    /// The artifact's SHA-256, when the file is not at hand.
    #[arg(long)]
    pub artifact_sha256: Option<String>,
    /// Target environment.
    #[arg(long = "env")]
    pub environment: String,
    #[arg(long)]
    pub description: Option<String>,
    /// Evidence: a JSON file of metric name → number (an eval or benchmark run).
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Evidence links (repeatable): the run, the dashboard, the pull request.
    #[arg(long = "link")]
    pub links: Vec<String>,
    /// An emergency change during a freeze: why. Needs an approved override.
    #[arg(long)]
    pub emergency: Option<String>,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Data directory to create (default: $COUNTERSIGN_DATA_DIR or ./countersign-data).
    pub dir: Option<PathBuf>,
    /// Name of the first administrator.
    #[arg(long, default_value = "admin")]
    pub admin: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (default: <data dir>/countersign.toml).
    #[arg(long, env = "COUNTERSIGN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory, initialized on first start when empty.
    #[arg(long, env = "COUNTERSIGN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (overrides the config).
    #[arg(long, env = "COUNTERSIGN_LISTEN")]
    pub listen: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PrincipalsCmd {
    /// Add a user, agent or service.
    Add {
        name: String,
        #[arg(long, value_parser = ["user", "agent", "service"])]
        kind: String,
        /// Group membership (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Accountable owner (a user); required for agents.
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List principals.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Disable a principal: its tokens stop working at once.
    Disable {
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create a token (shown once).
    Create {
        /// The principal the token authenticates as.
        #[arg(long)]
        principal: String,
        #[arg(long)]
        label: Option<String>,
        /// Lifetime, e.g. 30d or 12h.
        #[arg(long)]
        expires_in: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List tokens (never their values).
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Revoke a token at once.
    Revoke {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotificationsCmd {
    /// List notifications, newest first (administrators only).
    List {
        /// Only those that keep failing (still retried), with their last error.
        #[arg(long, conflicts_with = "state")]
        failed: bool,
        /// Only this state: pending, failed or sent.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCmd {
    /// List approvals (pending by default).
    List {
        #[arg(long, default_value = "pending")]
        status: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one approval in full.
    Show {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Approve.
    Approve {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Deny (ends the approval).
    Deny {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Cancel your own pending request.
    Cancel {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Action, e.g. command.run or model.deploy.
    #[arg(long, default_value = "command.run")]
    pub action: String,
    /// Resource, e.g. 'Command::"deploy"' or Model::fraud-detector.
    #[arg(long)]
    pub resource: String,
    /// Environment (dev, staging, prod …).
    #[arg(long = "env")]
    pub environment: String,
    /// Why: shown to reviewers.
    #[arg(long)]
    pub reason: Option<String>,
    /// Extra context for policy, as a JSON object.
    #[arg(long)]
    pub context: Option<String>,
    /// Longest wait for approval, e.g. 15m.
    #[arg(long, default_value = "15m")]
    pub wait: String,
    /// The approved change this deploy carries out (for `<kind>.deploy`).
    #[arg(long)]
    pub change: Option<String>,
    /// The artifact being deployed; its SHA-256 must be the change's.
    #[arg(long, requires = "change", conflicts_with = "artifact_sha256")]
    pub artifact: Option<PathBuf>,
    /// The artifact's SHA-256, when there is no file (e.g. a policy set's hash).
    #[arg(long, requires = "change")]
    pub artifact_sha256: Option<String>,
    #[command(flatten)]
    pub remote: Remote,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Validate the schema and policies (strict); prints the policy-set hash.
    Validate {
        /// Policy directory (schema.cedarschema and *.cedar).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long, env = "COUNTERSIGN_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Run test cases: each a request and its expected verdict.
    Test {
        cases: PathBuf,
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long, env = "COUNTERSIGN_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Propose a policy directory (schema.cedarschema, *.cedar, cases.toml)
    /// for one environment as a `policy` change: the server tests it and
    /// diffs it against the live set; it takes effect there once approved.
    Propose {
        dir: PathBuf,
        #[arg(long = "env")]
        environment: String,
        /// A version label (default: the start of the set's hash).
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Where two environments' effective permissions differ: which groups
    /// may do which actions on which resource types.
    Diff {
        /// Two environments, e.g. --env staging --env prod.
        #[arg(long = "env", num_args = 1, required = true)]
        environments: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Verify the whole log: every entry, interior hash, checkpoint
    /// signature and consistency. Offline from a data directory, or online.
    Verify {
        /// Data directory to verify offline (default when --online is absent).
        #[arg(long, env = "COUNTERSIGN_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Verify a running server's log over HTTP instead.
        #[arg(long)]
        online: bool,
        /// A checkpoint kept earlier: prove the log only grew since.
        #[arg(long)]
        since: Option<PathBuf>,
        /// Trusted verifier keys (name+id+key), besides the data dir's own.
        #[arg(long = "key")]
        keys: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Print an entry with its receipt (inclusion proof + checkpoint), verified
    /// with a trusted key; or check a saved receipt offline (`--file`).
    Receipt {
        /// The entry's sequence number (fetched from the server).
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        seq: Option<u64>,
        /// A trusted verifier key of the log (repeatable; also
        /// $COUNTERSIGN_VERIFIER_KEY).
        #[arg(long = "key", value_name = "VERIFIER_KEY")]
        keys: Vec<String>,
        /// Check a receipt saved earlier, offline: no server is contacted.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Save the fetched receipt (JSON) to FILE once it verifies.
        #[arg(long, value_name = "FILE", conflicts_with = "file")]
        save: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Print the newest entries; -f follows.
    Tail {
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u64,
        #[arg(short = 'f', long)]
        follow: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Export entries as JSON lines, with the API's filters.
    Export {
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl"])]
        format: String,
        #[arg(long)]
        principal: Option<String>,
        #[arg(long)]
        action: Option<String>,
        #[arg(long = "env")]
        environment: Option<String>,
        #[arg(long)]
        verdict: Option<String>,
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}
