//! Command-line flags (clap derive). Validation into a config happens in
//! `config.rs`; commands receive validated values. Every subcommand has an
//! example (`examples.rs`) and every argument a description: a test walks
//! the whole tree and fails on a missing one.

use crate::examples as ex;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "countersign",
    version,
    about = "Governance gateway: identify, authorize, approve and audit every action of AI agents, people and pipelines",
    after_help = ex::TOP
)]
pub struct Cli {
    /// Where client commands find the server, and as whom they act. Given
    /// before or after the subcommand.
    #[command(flatten)]
    pub remote: Remote,
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
        value_name = "URL",
        global = true
    )]
    pub server: String,
    /// API token (never pass it on the command line in shared shells; the
    /// environment variable is read when the flag is absent).
    #[arg(
        long,
        env = "COUNTERSIGN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        global = true
    )]
    pub token: Option<String>,
    /// Print raw JSON instead of a human summary.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Default for Remote {
    fn default() -> Self {
        Remote {
            server: "http://127.0.0.1:8750".to_owned(),
            token: None,
            json: false,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a data directory: config, Cedar schema and starter policies,
    /// signing key, database, and a first admin (its token printed once).
    #[command(after_help = ex::INIT)]
    Init(InitArgs),
    /// Run the gateway.
    #[command(after_help = ex::SERVE)]
    Serve(ServeArgs),
    /// Manage principals (users, agents, services).
    #[command(subcommand, after_help = ex::PRINCIPALS)]
    Principals(PrincipalsCmd),
    /// Manage API tokens.
    #[command(subcommand, after_help = ex::TOKENS)]
    Tokens(TokensCmd),
    /// Offline administration of a data directory (no server needed).
    #[command(subcommand, after_help = ex::ADMIN)]
    Admin(AdminCmd),
    /// List, inspect and vote on approvals.
    #[command(subcommand, after_help = ex::APPROVALS)]
    Approvals(ApprovalsCmd),
    /// Inspect the notification outbox (Slack, Teams, webhooks).
    #[command(subcommand, after_help = ex::NOTIFICATIONS)]
    Notifications(NotificationsCmd),
    /// Ask before running a command; wait for approval when policy says so.
    #[command(after_help = ex::RUN)]
    Run(RunArgs),
    /// Validate, test, propose and compare policies.
    #[command(subcommand, after_help = ex::POLICY)]
    Policy(PolicyCmd),
    /// Verify and read the tamper-evident audit log.
    #[command(subcommand, after_help = ex::AUDIT)]
    Audit(AuditCmd),
    /// Change authorization: submit a model, prompt, pipeline or policy
    /// version with its evidence; follow its gates and reviews.
    #[command(subcommand, after_help = ex::CHANGE)]
    Change(ChangeCmd),
    /// What version of each subject is live in each environment, since
    /// when, approved by whom, with its metrics.
    #[command(after_help = ex::INVENTORY)]
    Inventory {
        /// Only this environment.
        #[arg(long = "env", value_name = "ENV")]
        environment: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChangeCmd {
    /// Submit a change; prints its gate report. Exits 1 when a check fails.
    #[command(after_help = ex::CHANGE_SUBMIT)]
    Submit(ChangeSubmitArgs),
    /// A change's state and gates; `--wait` waits for its review to end.
    /// Exits 0 once approved or deployed, 3 while it still awaits review,
    /// 2 when rejected, 1 when its checks failed.
    #[command(after_help = ex::CHANGE_STATUS)]
    Status {
        /// The change id (chg_…), as `change submit` printed it.
        id: String,
        /// Wait (up to this long, e.g. 30m) while it awaits review.
        #[arg(long, value_name = "DURATION")]
        wait: Option<String>,
    },
    /// List changes, newest first.
    #[command(after_help = ex::CHANGE_LIST)]
    List {
        /// Only this kind: model, prompt, pipeline, policy or a configured one.
        #[arg(long)]
        kind: Option<String>,
        /// Only this subject, e.g. 'Model::"fraud-detector"'.
        #[arg(long)]
        subject: Option<String>,
        /// Only changes targeting this environment.
        #[arg(long = "env", value_name = "ENV")]
        environment: Option<String>,
        /// Only this state: awaiting_review, approved, deployed … or all.
        #[arg(long)]
        state: Option<String>,
        /// At most this many changes.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Everything about one change: evidence, gates, reviews, report.
    #[command(after_help = ex::CHANGE_SHOW)]
    Show {
        /// The change id (chg_…).
        id: String,
    },
    /// Report that the change's allowed deploy ran (for CI that asked for
    /// the deploy decision itself; `countersign run` reports on its own).
    #[command(after_help = ex::CHANGE_DEPLOYED)]
    Deployed {
        /// The change id (chg_…) whose deploy ran.
        id: String,
    },
    /// Withdraw a change awaiting review or approved but not deployed (its
    /// author or an administrator); its open reviews are cancelled.
    #[command(after_help = ex::CHANGE_CANCEL)]
    Cancel {
        /// The change id (chg_…) to withdraw.
        id: String,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Record that a deployed change was rolled back: the deployment before
    /// it is live again.
    #[command(after_help = ex::CHANGE_ROLLBACK)]
    Rollback {
        /// The change id (chg_…) that was reverted.
        id: String,
        /// Why, for the audit log.
        #[arg(long)]
        reason: Option<String>,
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
        value_name = "FILE",
        conflicts_with = "artifact_sha256",
        required_unless_present = "artifact_sha256"
    )]
    pub artifact: Option<PathBuf>,
    /// The artifact's SHA-256, when the file is not at hand.
    #[arg(long, value_name = "HEX")]
    pub artifact_sha256: Option<String>,
    /// Target environment: the first one (dev) needs no earlier deploy;
    /// each later one needs the same artifact live in the one before.
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// What the change is, for reviewers.
    #[arg(long)]
    pub description: Option<String>,
    /// Evidence: a JSON file of metric name → number (an eval or benchmark run).
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
    /// Evidence links (repeatable): the run, the dashboard, the pull request.
    #[arg(long = "link", value_name = "URL")]
    pub links: Vec<String>,
    /// An emergency change during a freeze: why. Needs an approved override.
    #[arg(long, value_name = "WHY")]
    pub emergency: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Data directory to create (default: $COUNTERSIGN_DATA_DIR or ./countersign-data).
    pub dir: Option<PathBuf>,
    /// Name of the first administrator.
    #[arg(long, default_value = "admin", value_name = "NAME")]
    pub admin: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (default: <data dir>/countersign.toml).
    #[arg(long, env = "COUNTERSIGN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (default: ./countersign-data, created on first
    /// start). A directory given here must exist already (`countersign
    /// init DIR`), unless --init is given: a typo never starts a new,
    /// empty instance with a new administrator.
    #[arg(long, env = "COUNTERSIGN_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Create the data directory given with --data-dir when it is missing
    /// or empty, as `countersign init` would, then serve.
    #[arg(long)]
    pub init: bool,
    /// Address to listen on (overrides the config), e.g. 127.0.0.1:8750.
    #[arg(long, env = "COUNTERSIGN_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PrincipalsCmd {
    /// Add a user, agent or service (administrators).
    #[command(after_help = ex::PRINCIPALS_ADD)]
    Add {
        /// Its unique name, e.g. alice or deploy-bot.
        name: String,
        /// user (a person), agent (an AI agent; needs --owner) or service (CI, a job).
        #[arg(long, value_parser = ["user", "agent", "service"])]
        kind: String,
        /// Group membership (repeatable), e.g. engineer, reviewer, admin.
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// Accountable owner (a user); required for agents.
        #[arg(long, value_name = "USER")]
        owner: Option<String>,
        /// Contact address, shown to reviewers.
        #[arg(long)]
        email: Option<String>,
    },
    /// List principals.
    #[command(after_help = ex::PRINCIPALS_LIST)]
    List,
    /// Disable a principal: its tokens stop working at once.
    #[command(after_help = ex::PRINCIPALS_DISABLE)]
    Disable {
        /// The principal's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create a token (printed once, on stdout; the rest goes to stderr).
    #[command(after_help = ex::TOKENS_CREATE)]
    Create {
        /// The principal the token authenticates as.
        #[arg(long, value_name = "NAME")]
        principal: String,
        /// A label to recognize it by in `tokens list`.
        #[arg(long)]
        label: Option<String>,
        /// Lifetime, e.g. 30d or 12h (default: no expiry).
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
    },
    /// List tokens (never their values).
    #[command(after_help = ex::TOKENS_LIST)]
    List,
    /// Revoke a token at once.
    #[command(after_help = ex::TOKENS_REVOKE)]
    Revoke {
        /// The token id from `tokens list` (the part after `cs_`, not the secret).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Regain administrator access with only the data directory: mint a new
    /// admin token offline, recorded in the audit log. Refused while a
    /// server is running on the directory (stop it first).
    #[command(after_help = ex::ADMIN_RECOVER)]
    Recover {
        /// The data directory (default: $COUNTERSIGN_DATA_DIR or ./countersign-data).
        #[arg(long, env = "COUNTERSIGN_DATA_DIR", value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The administrator to mint a token for; created as a user in the
        /// admin group when it does not exist.
        #[arg(long, default_value = "admin", value_name = "NAME")]
        principal: String,
        /// Lifetime of the recovery token: use it to create a proper one.
        #[arg(long, default_value = "24h", value_name = "DURATION")]
        expires_in: String,
        /// Why, for the audit log (e.g. the ticket of the lost token).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotificationsCmd {
    /// List notifications, newest first (administrators only).
    #[command(after_help = ex::NOTIFICATIONS_LIST)]
    List {
        /// Only those that keep failing (still retried), with their last error.
        #[arg(long, conflicts_with = "state")]
        failed: bool,
        /// Only this state: pending, failed or sent.
        #[arg(long)]
        state: Option<String>,
        /// At most this many notifications.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCmd {
    /// List approvals (pending by default) that you may see.
    #[command(after_help = ex::APPROVALS_LIST)]
    List {
        /// pending, approved, denied, expired, cancelled, executed or all.
        #[arg(long, default_value = "pending")]
        status: String,
    },
    /// Show one approval in full.
    #[command(after_help = ex::APPROVALS_SHOW)]
    Show {
        /// The approval id (apr_…).
        id: String,
    },
    /// Approve (counts toward the quorum).
    #[command(after_help = ex::APPROVALS_APPROVE)]
    Approve {
        /// The approval id (apr_…).
        id: String,
        /// Why: required when the policy says so (`approvals show` tells).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deny (ends the approval).
    #[command(after_help = ex::APPROVALS_DENY)]
    Deny {
        /// The approval id (apr_…).
        id: String,
        /// Why: required when the policy says so.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Cancel your own pending request.
    #[command(after_help = ex::APPROVALS_CANCEL)]
    Cancel {
        /// The approval id (apr_…).
        id: String,
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
    #[arg(long = "env", value_name = "ENV")]
    pub environment: String,
    /// Why: shown to reviewers.
    #[arg(long)]
    pub reason: Option<String>,
    /// Extra context for policy, as a JSON object.
    #[arg(long, value_name = "JSON")]
    pub context: Option<String>,
    /// Longest wait for approval, e.g. 15m.
    #[arg(long, default_value = "15m", value_name = "DURATION")]
    pub wait: String,
    /// The approved change this deploy carries out (for `<kind>.deploy`).
    #[arg(long, value_name = "CHANGE_ID")]
    pub change: Option<String>,
    /// The artifact being deployed; its SHA-256 must be the change's.
    #[arg(
        long,
        value_name = "FILE",
        requires = "change",
        conflicts_with = "artifact_sha256"
    )]
    pub artifact: Option<PathBuf>,
    /// The artifact's SHA-256, when there is no file (e.g. a policy set's hash).
    #[arg(long, value_name = "HEX", requires = "change")]
    pub artifact_sha256: Option<String>,
    /// Filled in from the global --server/--token/--json.
    #[arg(skip)]
    pub remote: Remote,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Validate the schema and policies (strict); prints the policy-set hash.
    #[command(after_help = ex::POLICY_VALIDATE)]
    Validate {
        /// Policy directory (schema.cedarschema and *.cedar); default: the
        /// data directory's.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Data directory whose configured policy directory to validate.
        #[arg(long, env = "COUNTERSIGN_DATA_DIR", value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Run test cases: each a request and its expected verdict. Exits 1
    /// when a case does not match.
    #[command(after_help = ex::POLICY_TEST)]
    Test {
        /// The cases file (TOML: principals, then [[case]]s with `expect`).
        cases: PathBuf,
        /// Policy directory to test; default: the cases file's own directory
        /// when it holds a schema.cedarschema, else the data directory's.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Data directory whose policies to test when neither --dir nor the
        /// cases file's directory has them.
        #[arg(long, env = "COUNTERSIGN_DATA_DIR", value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Propose a policy directory (schema.cedarschema, *.cedar, cases.toml)
    /// for one environment as a `policy` change: the server tests it and
    /// diffs it against the live set; it takes effect there once approved.
    #[command(after_help = ex::POLICY_PROPOSE)]
    Propose {
        /// The policy directory to propose.
        dir: PathBuf,
        /// The environment it is for (it takes effect there only).
        #[arg(long = "env", value_name = "ENV")]
        environment: String,
        /// A version label (default: the first 12 hex digits of the set's
        /// hash, as `policy validate --dir DIR` prints it).
        #[arg(long)]
        version: Option<String>,
        /// What the change is, for reviewers.
        #[arg(long)]
        description: Option<String>,
    },
    /// Where two environments' effective permissions differ: which groups
    /// may do which actions on which resource types.
    #[command(after_help = ex::POLICY_DIFF)]
    Diff {
        /// Two environments, e.g. --env staging --env prod.
        #[arg(long = "env", value_name = "ENV", num_args = 1, required = true)]
        environments: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Verify the whole log: every entry, interior hash, checkpoint
    /// signature and consistency. Offline from a data directory, or online.
    #[command(after_help = ex::AUDIT_VERIFY)]
    Verify {
        /// Data directory to verify offline (default when --online is absent).
        #[arg(long, env = "COUNTERSIGN_DATA_DIR", value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Verify a running server's log over HTTP instead.
        #[arg(long)]
        online: bool,
        /// A checkpoint kept earlier: prove the log only grew since.
        #[arg(long, value_name = "FILE")]
        since: Option<PathBuf>,
        /// Trusted verifier keys (name+id+key), besides the data dir's own.
        #[arg(long = "key", value_name = "VERIFIER_KEY")]
        keys: Vec<String>,
    },
    /// Print an entry with its receipt (inclusion proof + checkpoint), verified
    /// with a trusted key; or check a saved receipt offline (`--file`).
    #[command(after_help = ex::AUDIT_RECEIPT)]
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
    },
    /// Print the newest entries; -f follows.
    #[command(after_help = ex::AUDIT_TAIL)]
    Tail {
        /// How many of the newest entries to print.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: u64,
        /// Keep printing new entries as they are appended.
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Export entries as JSON lines, with the API's filters.
    #[command(after_help = ex::AUDIT_EXPORT)]
    Export {
        /// Output format (JSON lines, one entry per line).
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl"])]
        format: String,
        /// Only entries about this principal.
        #[arg(long, value_name = "NAME")]
        principal: Option<String>,
        /// Only this action, e.g. sql.ddl.
        #[arg(long)]
        action: Option<String>,
        /// Only this environment.
        #[arg(long = "env", value_name = "ENV")]
        environment: Option<String>,
        /// Only this verdict: allow, deny or pending.
        #[arg(long)]
        verdict: Option<String>,
        /// From this time on (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Before this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
    },
}
