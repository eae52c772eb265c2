//! `loadgen`: parses the command line and dispatches to a subcommand. The
//! default subcommand (`run`) validates flags, checks descriptor and port
//! limits up front, runs the fleet, writes the JSON report and a human
//! summary on stderr; exit code 0 when every check passed, 1 when a check
//! failed (one line on stderr says which), 2 for bad flags or a fleet that
//! cannot fit, 3 when the run itself fails. A staged run (`--stages`) that
//! found its knee past stage 1, every stage before it holding, passes (the
//! load checks past the knee are waived); one whose stage 1 broke fails.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use loadgen::cli::{Cli, Cmd, RunArgs};
use loadgen::live::run;
use loadgen::preflight::{fit, machine};
use loadgen::shard;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return loadgen::cli_error::report("loadgen", e, &argv),
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
        Cmd::Merge(a) => offline(
            loadgen::tools::merge::merge_files(&a.reports, a.partial).and_then(|m| {
                loadgen::tools::merge::write(&m, a.out.as_deref()).map_err(Into::into)
            }),
        ),
        Cmd::Hgrm(a) => offline(
            (a.reports.iter().try_for_each(|r| {
                for p in loadgen::tools::hgrm::write_report(r, a.out_dir.as_deref())? {
                    println!("{}", p.display());
                }
                Ok::<(), loadgen::tools::reportfile::FileError>(())
            }))
            .map(|()| eprintln!("loadgen hgrm: the files above; values in microseconds (µs)")),
        ),
        Cmd::Table(a) => offline(loadgen::tools::table::run(&a.files, a.data_dir.as_deref())),
        Cmd::Report(a) => offline(loadgen::tools::html::run(&a.reports, a.out.as_deref())),
        Cmd::Limits(a) => match loadgen::preflight::limits_bench::run(&a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("loadgen limits: {e}");
                ExitCode::from(3)
            }
        },
    }
}

/// Exit code of an offline subcommand: 0, or 2 with one line on stderr
/// (bad input files are the caller's to fix).
fn offline<E: std::fmt::Display>(r: Result<(), E>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

fn run_cmd(args: &RunArgs, argv: Vec<String>) -> ExitCode {
    let env = |k: &str| std::env::var(k).ok();
    let launched = std::time::SystemTime::now();
    let (cfg, placement) =
        match shard::plan(args, &env, machine::cores(), run::clock_seed(), launched) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("loadgen: {e}");
                return ExitCode::from(2);
            }
        };
    let cap = fit::probe();
    let ips = cfg.source_ips.len() as u64;
    if let Err(e) = fit::check_fit(u64::from(cfg.devices), cfg.embedded(), ips, cap) {
        eprintln!("loadgen: {e}");
        return ExitCode::from(2);
    }
    let m = machine::probe(cap.nofile, cap.nofile_hard);
    let report = match run::run(&cfg, &placement, m, argv) {
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
    let written = match args.out.as_deref().map(|t| shard::out_path(t, &placement)) {
        Some(path) => path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, json + "\n")),
        None => writeln!(std::io::stdout().lock(), "{json}"),
    };
    if let Err(e) = written {
        eprintln!("loadgen: cannot write the report: {e}");
        return ExitCode::from(3);
    }
    if cfg.summary == loadgen::cli::SummaryMode::Text {
        eprint!("{}", loadgen::report::summary::render(&report));
    }
    if !report.ok {
        eprintln!("loadgen: check failed: {}", report.breaches.join("; "));
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
