//! The `etcd-rs` command.
//!
//! - `etcd-rs sim [--seeds N] [--first S] [--threads T]`: a sweep of the deterministic
//!   cluster simulation; `etcd-rs sim --seed S [--trace]` replays one seed.

use std::process::ExitCode;

const USAGE: &str = "usage:
  etcd-rs sim [--seeds N] [--first S] [--threads T]   run a simulation sweep
  etcd-rs sim --seed S [--trace]                      replay one seed";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("sim") => match sim(&args[1..]) {
            Ok(code) => code,
            Err(message) => {
                eprintln!("etcd-rs sim: {message}\n{USAGE}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!(
                "etcd-rs: the server is not built yet; today this binary runs the simulation\n{USAGE}"
            );
            ExitCode::from(2)
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
