//! The command line: `trace-console listen` and `trace-console query`.

use std::io::IsTerminal as _;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::listen::{ListenOptions, Listener};
use crate::query::{self, QueryOptions};
use crate::waterfall::Style;

/// Draws traces as waterfalls: live from local functions, or from AWS X-Ray.
#[derive(Debug, Parser)]
#[command(name = "trace-console", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Listen as the X-Ray daemon (UDP) and an OTLP/HTTP receiver; draw each trace once quiet.
    Listen(ListenArgs),
    /// Query AWS X-Ray for recent traces and draw them, with a Logs Insights query for each.
    Query(QueryArgs),
}

/// `trace-console listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// UDP port of the X-Ray daemon (AWS_XRAY_DAEMON_ADDRESS); 0 picks a free one.
    #[arg(long, default_value_t = 2000)]
    pub xray_port: u16,
    /// TCP port of the OTLP/HTTP receiver (OTEL_EXPORTER_OTLP_ENDPOINT); 0 picks a free one.
    #[arg(long, default_value_t = 4318)]
    pub otlp_port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Milliseconds a trace must be quiet before it is drawn.
    #[arg(long, default_value_t = 300)]
    pub quiet_ms: u64,
}

/// `trace-console query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The window: traces of the last this many minutes.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub minutes: u32,
    /// An X-Ray filter expression, e.g. 'annotation.ColdStart = true' or 'fault'.
    #[arg(long)]
    pub filter: Option<String>,
    /// Draw this one trace (1-XXXXXXXX-YYYY… or 32 hex digits) instead of a window.
    #[arg(long, conflicts_with_all = ["filter", "minutes"])]
    pub trace_id: Option<String>,
    /// AWS region (default: AWS_REGION or the profile's).
    #[arg(long)]
    pub region: Option<String>,
    /// Draw at most this many traces, the most recent.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Seconds to wait for each X-Ray call before giving up.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
}

/// Runs the command; errors are said on stderr and end with exit code 1.
pub async fn run(cli: Cli) -> ExitCode {
    let style = Style {
        color: colour(),
        ..Style::default()
    };
    let result = match cli.command {
        Command::Listen(args) => listen(args, style).await,
        Command::Query(args) => query(args, style).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("trace-console: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Colour only for a terminal, and not when `NO_COLOR` is set.
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

async fn listen(args: ListenArgs, style: Style) -> Result<(), crate::Error> {
    let listener = Listener::bind(ListenOptions {
        bind: args.bind,
        xray_port: args.xray_port,
        otlp_port: args.otlp_port,
        quiet: Duration::from_millis(args.quiet_ms),
        style,
    })
    .await?;
    listener.run(std::io::stdout(), shutdown_signal()).await;
    Ok(())
}

async fn query(args: QueryArgs, style: Style) -> Result<(), crate::Error> {
    let options = QueryOptions {
        minutes: args.minutes,
        filter: args.filter,
        trace_id: args.trace_id,
        region: args.region,
        limit: args.limit,
        timeout: Duration::from_secs(args.timeout),
        style: Style {
            agreement: false,
            ..style
        },
    };
    query::run(&options, &mut std::io::stdout().lock()).await?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
