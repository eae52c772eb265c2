//! `loadgen`: parses the command line and dispatches to a subcommand. The
//! default subcommand (`run`) validates flags, checks descriptor and port
//! limits up front, runs the fleet and writes the JSON report; exit code 0
//! on success, 1 when a threshold is breached (one line on stderr says
//! which), 2 for bad flags or a fleet that cannot fit, 3 when the run
//! itself fails.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use loadgen::cli::{Cli, Cmd, RunArgs};
use loadgen::config::RunConfig;
use loadgen::{limits, machine, run};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return hub::config::clap_failure("loadgen", e),
    };
    match cli.into_cmd() {
        Cmd::Run(args) => run_cmd(&args, argv),
        Cmd::Classic(args) => match loadgen::classic::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("loadgen: {e}");
                ExitCode::from(3)
            }
        },
    }
}

fn run_cmd(args: &RunArgs, argv: Vec<String>) -> ExitCode {
    let cfg = match RunConfig::from_args(args, machine::cores(), run::clock_seed()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let cap = limits::probe();
    let ips = cfg.source_ips.len() as u64;
    if let Err(e) = limits::check_fit(u64::from(cfg.devices), cfg.embedded(), ips, cap) {
        eprintln!("loadgen: {e}");
        return ExitCode::from(2);
    }
    let m = machine::probe(cap.nofile, cap.nofile_hard);
    let report = match run::run(&cfg, m, argv) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(3);
        }
    };
    let json = match serde_json::to_string_pretty(&report) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("loadgen: cannot serialize the report: {e}");
            return ExitCode::from(3);
        }
    };
    let written = match &args.out {
        Some(path) => std::fs::write(path, json + "\n"),
        None => writeln!(std::io::stdout().lock(), "{json}"),
    };
    if let Err(e) = written {
        eprintln!("loadgen: cannot write the report: {e}");
        return ExitCode::from(3);
    }
    if !report.ok {
        eprintln!(
            "loadgen: threshold breached: {}",
            report.breaches.join("; ")
        );
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
