//! `etcd-rs bench`: the project's load generator, with the subcommands and flags of etcd's
//! `benchmark` tool (`put`, `range`, `txn-put`, `watch-latency`; `--endpoints`, `--conns`,
//! `--clients`, `--total`, `--key-size`, `--val-size`, `--sequential-keys`, ...), and
//! etcd's summary. It speaks plain etcd v3 gRPC through the generated clients of [`crate::pb`],
//! so it measures etcd-rs and etcd alike.
//!
//! # Layout
//! - [`flags`]: the command line.
//! - [`conn`]: connections and `--target-leader`.
//! - [`keys`]: keys, values and the random number generator.
//! - [`requests`]: `put`, `range`, `txn-put` (closed-loop clients).
//! - [`watch_latency`]: the `watch-latency` subcommand.
//! - [`report`]: latencies, errors and the printed summary.
//! - [`progress`]: the progress bar on stderr.

pub mod conn;
pub mod flags;
pub mod keys;
pub mod progress;
pub mod report;
pub mod requests;
pub mod watch_latency;

use std::process::ExitCode;

use serde_json::json;

use flags::{Command, Consistency, Global, Output, Parsed};

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// A connection could not be opened.
    #[error("cannot connect to {endpoint}: {}", error_chain(.source))]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// A call the benchmark needs before its load (not one of the measured requests)
    /// failed.
    #[error("{what} failed: {}", status_text(.status))]
    Rpc {
        /// Which call.
        what: String,
        /// The answer.
        status: tonic::Status,
    },
    /// `--target-leader` found no member that says it is the leader.
    #[error("--target-leader: no endpoint is the leader: {0}")]
    NoLeader(String),
    /// Anything else, in words.
    #[error("{0}")]
    Other(String),
}

/// An error and its causes, `a: b: c` (tonic's own text is only "transport error").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// A gRPC error as Go's clients print it (etcd's report groups errors by this text).
pub fn status_text(status: &tonic::Status) -> String {
    format!(
        "rpc error: code = {:?} desc = {}",
        status.code(),
        status.message()
    )
}

/// Runs `etcd-rs bench` with the arguments after `bench`.
pub fn main(args: &[String]) -> ExitCode {
    let (global, command) = match flags::parse(args) {
        Ok(Parsed::Run(global, command)) => (global, command),
        Ok(Parsed::Help(text)) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("etcd-rs bench: {e}\n(etcd-rs bench --help lists the flags)");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("etcd-rs bench: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(&global, &command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(BenchError::Usage(message)) => {
            eprintln!("etcd-rs bench: {message}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("etcd-rs bench: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs one benchmark and prints its summary on stdout.
pub async fn run(global: &Global, command: &Command) -> Result<(), BenchError> {
    let endpoints = conn::endpoints(global).await?;
    let header = json!({
        "endpoints": endpoints,
        "conns": global.conns,
        "clients": global.clients,
    });
    if let Some((workload, load)) = requests::Workload::of(command) {
        if let (Output::Text, Command::Range { consistency, .. }) = (global.output, command) {
            // etcd's tool says which kind of read it measures before it starts.
            match consistency {
                Consistency::Linearizable => println!("bench with linearizable range"),
                Consistency::Serializable => println!("bench with serializable range"),
            }
        }
        let channels = conn::open(&endpoints, global.conns, global).await?;
        let report = requests::run(&channels, global.clients, workload, load).await;
        match global.output {
            Output::Text => print!("{}", report.text(global.precise)),
            Output::Json => println!("{}", with_header(&header, report.json())),
        }
        return Ok(());
    }
    let Command::WatchLatency(flags) = command else {
        unreachable!("Workload::of covers every other command")
    };
    let reports = watch_latency::run(global, &endpoints, flags).await?;
    match global.output {
        Output::Text => {
            let precise = global.precise;
            print!("\nPut summary:{}", reports.puts.text(precise));
            print!(
                "\nWatch events summary:{}",
                reports.events_from_ack.text(precise)
            );
            print!(
                "\nWatch events from put send summary:{}",
                reports.events_from_send.text(precise)
            );
        }
        Output::Json => {
            let mut out = header;
            out["name"] = json!("watch-latency");
            out["put"] = reports.puts.json();
            out["watch"] = reports.events_from_ack.json();
            out["watch_from_send"] = reports.events_from_send.json();
            println!("{out}");
        }
    }
    Ok(())
}

fn with_header(header: &serde_json::Value, mut report: serde_json::Value) -> serde_json::Value {
    if let (Some(out), Some(fields)) = (report.as_object_mut(), header.as_object()) {
        for (k, v) in fields {
            out.insert(k.clone(), v.clone());
        }
    }
    report
}
