//! The `etcd-rs` command.
//!
//! - `etcd-rs [etcd flags]`: one member, configured exactly as etcd 3.4 is (flags,
//!   `ETCD_*` environment variables, `--config-file`).
//! - `etcd-rs dev [--members N] [--ephemeral] [--data-dir D]`: a whole cluster in one
//!   process, client ports 2379, 22379, 32379, ...
//! - `etcd-rs sim [--seeds N] [--first S]` / `etcd-rs sim --seed S [--trace]`: the
//!   deterministic cluster simulation.
//! - `etcd-rs bench <put|range|txn-put|watch-latency> [flags]`: the load generator, with
//!   the flags of etcd's `benchmark` tool.

use std::process::ExitCode;

use etcd_rs::config::{self, ConfigError, dev::DevOptions};
use etcd_rs::process;

const SIM_USAGE: &str = "usage:
  etcd-rs sim [--seeds N] [--first S] [--threads T]   run a simulation sweep
  etcd-rs sim --seed S [--trace]                      replay one seed";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("sim") => match sim(&args[1..]) {
            Ok(code) => code,
            Err(message) => {
                eprintln!("etcd-rs sim: {message}\n{SIM_USAGE}");
                ExitCode::from(2)
            }
        },
        Some("dev") => dev(&args[1..]),
        Some("bench") => etcd_rs::bench::main(&args[1..]),
        _ => member(&args),
    }
}

fn config_exit(error: &ConfigError) -> ExitCode {
    match error {
        ConfigError::HelpRequested => {
            println!("{}", config::flags::usage());
            ExitCode::SUCCESS
        }
        ConfigError::VersionRequested => {
            println!(
                "etcd-rs Version: {}\nAPI Version: 3.5",
                env!("CARGO_PKG_VERSION")
            );
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("{other}");
            ExitCode::from(other.exit_code() as u8)
        }
    }
}

/// One member with etcd's flags.
fn member(args: &[String]) -> ExitCode {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let parsed = match config::parse(args, &env) {
        Ok(parsed) => parsed,
        Err(e) => return config_exit(&e),
    };
    for note in &parsed.notes {
        eprintln!("etcd-rs: {note}");
    }
    for warning in &parsed.warnings {
        eprintln!("etcd-rs: warning: {warning}");
    }
    let config = parsed.config;
    if let Err(e) = config.initial_members() {
        return config_exit(&e);
    }
    let planned = match process::plan_process(&config) {
        Ok(planned) => vec![planned],
        Err(e) => {
            eprintln!("etcd-rs: {e}");
            return ExitCode::from(1);
        }
    };
    let result = process::run(planned, process::PeerMode::Tcp, || {
        eprintln!(
            "etcd-rs: member {} ready to serve client requests on {}",
            config.name,
            config.listen_client_urls.join(",")
        );
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("etcd-rs: {e}");
            ExitCode::from(1)
        }
    }
}

/// A whole cluster in this process.
fn dev(args: &[String]) -> ExitCode {
    let options = match DevOptions::parse(args) {
        Ok(options) => options,
        Err(e) => return config_exit(&e),
    };
    let configs = options.member_configs();
    let planned = match process::plan(&configs, options.ephemeral) {
        Ok(planned) => planned,
        Err(e) => {
            eprintln!("etcd-rs dev: {e}");
            return ExitCode::from(1);
        }
    };
    let endpoints: Vec<String> = configs
        .iter()
        .flat_map(|c| c.advertise_client_urls.iter().cloned())
        .collect();
    let where_data = if options.ephemeral {
        "in memory only".to_string()
    } else {
        format!("under {}", options.data_dir.display())
    };
    let result = process::run(planned, process::PeerMode::InProcess, || {
        println!(
            "etcd-rs dev: {} members running, data {where_data}",
            configs.len()
        );
        for config in &configs {
            println!(
                "  {:<6} {}",
                config.name,
                config.advertise_client_urls.join(",")
            );
        }
        let endpoints = endpoints.join(",");
        println!("Point etcdctl at it:");
        println!("  etcdctl --endpoints={endpoints} put greeting hello");
        println!("  etcdctl --endpoints={endpoints} get greeting");
        println!("  etcdctl --endpoints={endpoints} endpoint status -w table");
        println!("Stop with Ctrl-C.");
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("etcd-rs dev: {e}");
            ExitCode::from(1)
        }
    }
}

fn sim(args: &[String]) -> Result<ExitCode, String> {
    let mut seeds = 200u64;
    let mut first = 0u64;
    let mut one_seed = None;
    let mut trace = false;
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            it.next()
                .ok_or(format!("{name} needs a value"))?
                .parse()
                .map_err(|e| format!("invalid value for {name}: {e}"))
        };
        match flag.as_str() {
            "--seeds" => seeds = value("--seeds")?,
            "--first" => first = value("--first")?,
            "--seed" => one_seed = Some(value("--seed")?),
            "--threads" => threads = value("--threads")? as usize,
            "--trace" => trace = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if let Some(seed) = one_seed {
        return Ok(match etcd_rs::sim::run_seed(seed, trace) {
            Ok(report) => {
                println!("seed {seed} passed: {report:?}");
                ExitCode::SUCCESS
            }
            Err(failure) => {
                eprintln!("{failure}");
                ExitCode::from(failure.kind.exit_code() as u8)
            }
        });
    }
    let started = std::time::Instant::now();
    let summary = etcd_rs::sim::sweep(first..first + seeds, threads);
    for failure in &summary.failures {
        eprintln!("{failure}");
    }
    println!("{summary} seconds={:.1}", started.elapsed().as_secs_f64());
    Ok(match summary.failures.first() {
        None => ExitCode::SUCCESS,
        Some(failure) => ExitCode::from(failure.kind.exit_code() as u8),
    })
}
