//! The `rollgate` binary: argument parsing and exit codes. Every command's
//! work lives in the library crates; this crate only wires them together.

use std::process::ExitCode;

use clap::Parser;

/// Review allocates many small strings and trees; mimalloc is markedly
/// faster than glibc's allocator at that (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
mod client;
mod db;
mod lint;
mod migrate_cmd;
mod quickstart;
mod rules_cmd;
mod schema_cmd;
mod workspace_cmd;

/// Exit codes, documented in `--help` and the README.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// `rollgate server`: runs until SIGINT or SIGTERM, then shuts down
/// gracefully.
fn server(args: cli::ServerArgs) -> anyhow::Result<u8> {
    init_tracing();
    let config = rollgate_server::ServerConfig {
        listen: args.listen,
        data_dir: args.data_dir,
        metadata_url: args.metadata_url,
        body_limit: args.body_limit,
    };
    db::runtime()?.block_on(async {
        let shutdown = async {
            let interrupt = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let Ok(mut terminate) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                else {
                    return std::mem::drop(interrupt.await);
                };
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            #[cfg(not(unix))]
            let _ = interrupt.await;
        };
        rollgate_server::run(config, shutdown).await?;
        Ok(EXIT_OK)
    })
}

/// Server logs to stderr: `RUST_LOG` (e.g. `rollgate_server=debug`) or
/// warnings plus the server's own info lines by default. Log lines never
/// carry secrets: spans hold routes, not URIs or headers.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,rollgate_server=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Lint(args) => lint::run(args),
        cli::Command::Rules(args) => rules_cmd::run(args),
        cli::Command::Migrate(args) => migrate_cmd::migrate(args),
        cli::Command::Status(args) => migrate_cmd::status(args),
        cli::Command::Baseline(args) => migrate_cmd::baseline(args),
        cli::Command::History(cli::HistoryCommand::Repair(args)) => migrate_cmd::repair(args),
        cli::Command::Schema(cli::SchemaCommand::Dump(args)) => schema_cmd::dump(args),
        cli::Command::Drift(args) => schema_cmd::drift(args),
        cli::Command::Server(args) => server(args),
        cli::Command::Workspace(cli::WorkspaceCommand::Apply(args)) => workspace_cmd::apply(args),
        cli::Command::Workspace(cli::WorkspaceCommand::Export(args)) => workspace_cmd::export(args),
        cli::Command::Quickstart(args) => quickstart::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            // A closed pipe (`rollgate lint | head`) is not a failure.
            if error.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::from(EXIT_OK);
            }
            // Refusals and failed runs carry their own exit code.
            if let Some(exit) = error.downcast_ref::<db::Exit>() {
                eprintln!("error: {exit}");
                return ExitCode::from(exit.code);
            }
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
