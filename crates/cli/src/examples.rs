//! The `Examples:` section of every subcommand's `--help`. A test parses
//! each `countersign …` line here with the real flags, so an example that
//! no longer parses (a renamed flag, a missing `--`) fails the build's tests.

pub const TOP: &str = "\
Examples:
  countersign serve                       # first start: creates ./countersign-data, prints the admin token
  export COUNTERSIGN_TOKEN=cs_…           # every client command reads it (or --token)
  export COUNTERSIGN_SERVER=http://127.0.0.1:8750   # the default; set it for another server
  countersign approvals list
  countersign --server https://countersign.internal:8750 approvals list

Every client command accepts --server, --token and --json before or after the subcommand.
Walkthrough: README.md; change authorization: docs/changes.md.";

pub const INIT: &str = "\
Examples:
  countersign init                        # ./countersign-data
  countersign init /var/lib/countersign --admin ada";

pub const SERVE: &str = "\
Examples:
  countersign serve                       # ./countersign-data, created on first start
  countersign serve --data-dir /var/lib/countersign --listen 0.0.0.0:8750
  countersign serve --data-dir ./new-instance --init   # create it when missing";

pub const PRINCIPALS: &str = "\
Examples:
  countersign principals add alice --kind user --group engineer
  countersign principals add deploy-bot --kind agent --owner alice --group engineer
  countersign principals list";

pub const PRINCIPALS_ADD: &str = "\
Examples:
  countersign principals add rita --kind user --group reviewer --email rita@example.com
  countersign principals add deploy-bot --kind agent --owner alice --group engineer
  countersign principals add ci --kind service";

pub const PRINCIPALS_LIST: &str = "\
Examples:
  countersign principals list
  countersign principals list --json";

pub const PRINCIPALS_DISABLE: &str = "\
Examples:
  countersign principals disable deploy-bot";

pub const TOKENS: &str = "\
Examples:
  BOT=$(countersign tokens create --principal deploy-bot --label demo)
  countersign tokens list
  countersign tokens revoke 812983dce61c";

pub const TOKENS_CREATE: &str = "\
Examples:
  BOT=$(countersign tokens create --principal deploy-bot --label demo)
  countersign tokens create --principal ci --expires-in 30d";

pub const TOKENS_LIST: &str = "\
Examples:
  countersign tokens list";

pub const TOKENS_REVOKE: &str = "\
Examples:
  countersign tokens revoke 812983dce61c   # the ID column of `tokens list`";

pub const ADMIN: &str = "\
Examples:
  countersign admin recover --data-dir /var/lib/countersign --reason \"lost the admin token, OPS-7\"";

pub const ADMIN_RECOVER: &str = "\
Examples:
  # stop the server first; then, as the user who owns the data directory:
  countersign admin recover --data-dir /var/lib/countersign --reason \"lost the admin token, OPS-7\"
  countersign admin recover --principal ada --expires-in 1h --reason \"ada's laptop was stolen\"";

pub const APPROVALS: &str = "\
Examples:
  countersign approvals list
  countersign approvals show apr_…
  countersign approvals approve apr_… --reason \"backup verified\"
  countersign approvals deny apr_… --reason \"not during the freeze\"";

pub const APPROVALS_LIST: &str = "\
Examples:
  countersign approvals list
  countersign approvals list --status all --json";

pub const APPROVALS_SHOW: &str = "\
Examples:
  countersign approvals show apr_…";

pub const APPROVALS_APPROVE: &str = "\
Examples:
  countersign approvals approve apr_… --reason \"backup verified\"";

pub const APPROVALS_DENY: &str = "\
Examples:
  countersign approvals deny apr_… --reason \"not during the freeze\"";

pub const APPROVALS_CANCEL: &str = "\
Examples:
  countersign approvals cancel apr_…";

pub const NOTIFICATIONS: &str = "\
Examples:
  countersign notifications list --failed";

pub const NOTIFICATIONS_LIST: &str = "\
Examples:
  countersign notifications list
  countersign notifications list --failed
  countersign notifications list --state sent --limit 10";

pub const RUN: &str = "\
Examples:
  # the command comes last, after `--`
  countersign run --resource 'Command::\"db-backup\"' --env prod --reason \"before the migration\" -- ./backup.sh
  countersign run --action sql.ddl --resource 'Table::\"orders\"' --env prod \\
      --context '{\"sql\": {\"statement\": \"DROP TABLE orders\"}}' -- ./migrate.sh
  countersign run --action model.deploy --resource 'Model::\"fraud-detector\"' --env staging \\
      --change chg_… --artifact ./model.onnx -- ./deploy.sh staging

Exit status: the command's own; 2 when denied, 3 when not approved in time (or expired,
cancelled), 1 on any other error.";

pub const POLICY: &str = "\
Examples:
  countersign policy validate
  countersign policy test countersign-data/policies/cases.toml
  countersign policy propose ./policies-next --env staging
  countersign policy diff --env staging --env prod";

pub const POLICY_VALIDATE: &str = "\
Examples:
  countersign policy validate                       # the data directory's policies
  countersign policy validate --dir ./policies-next";

pub const POLICY_TEST: &str = "\
Examples:
  countersign policy test countersign-data/policies/cases.toml
  countersign policy test ./policies-next/cases.toml          # tests ./policies-next
  countersign policy test ./my-cases.toml --dir ./policies-next";

pub const POLICY_PROPOSE: &str = "\
Examples:
  countersign policy propose ./policies-next --env staging --description \"reviewers may export\"";

pub const POLICY_DIFF: &str = "\
Examples:
  countersign policy diff --env staging --env prod
  countersign policy diff --env dev --env prod | head";

pub const AUDIT: &str = "\
Examples:
  countersign audit verify                      # offline, in the directory holding countersign-data
  countersign audit tail -n 5
  countersign audit receipt 42 --key KEY";

pub const AUDIT_VERIFY: &str = "\
Examples:
  countersign audit verify --data-dir /var/lib/countersign
  countersign audit verify --online --key countersign.local/audit+ff5695c5+AZyi…
  countersign audit verify --online --key KEY --since kept-checkpoint.txt";

pub const AUDIT_RECEIPT: &str = "\
Examples:
  countersign audit receipt 42 --key KEY --save r.json
  countersign audit receipt --file r.json --key KEY";

pub const AUDIT_TAIL: &str = "\
Examples:
  countersign audit tail -n 5
  countersign audit tail -f";

pub const AUDIT_EXPORT: &str = "\
Examples:
  countersign audit export --env prod --since 2026-12-01T00:00:00Z > prod-december.jsonl
  countersign audit export --principal deploy-bot --verdict deny";

pub const CHANGE: &str = "\
Examples:
  countersign change submit --kind model --subject 'Model::\"fraud-detector\"' --version v2 \\
      --artifact ./model.onnx --env dev --metrics eval.json
  countersign change status chg_… --wait 30m
  countersign change list --state awaiting_review

Walkthrough (dev → staging → prod) and gates: docs/changes.md.";

pub const CHANGE_SUBMIT: &str = "\
Examples:
  countersign change submit --kind model --subject 'Model::\"fraud-detector\"' --version v2 \\
      --artifact ./model.onnx --env dev --metrics eval.json --link https://ci.example.com/runs/42
  countersign change submit --kind prompt --subject 'Prompt::\"support-triage\"' --version 7 \\
      --artifact-sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 --env staging";

pub const CHANGE_STATUS: &str = "\
Examples:
  countersign change status chg_…
  countersign change status chg_… --wait 30m && ./deploy.sh";

pub const CHANGE_LIST: &str = "\
Examples:
  countersign change list
  countersign change list --subject 'Model::\"fraud-detector\"' --env prod --state all";

pub const CHANGE_SHOW: &str = "\
Examples:
  countersign change show chg_…";

pub const CHANGE_DEPLOYED: &str = "\
Examples:
  countersign change deployed chg_…";

pub const CHANGE_CANCEL: &str = "\
Examples:
  countersign change cancel chg_… --reason \"superseded by v3\"";

pub const CHANGE_ROLLBACK: &str = "\
Examples:
  countersign change rollback chg_… --reason \"p99 latency regression\"";

pub const INVENTORY: &str = "\
Examples:
  countersign inventory
  countersign inventory --env prod --json";
