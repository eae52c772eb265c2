//! The `hub` binary: parse flags, bind, print where it listens, run until
//! SIGINT/SIGTERM or the `shutdown` command. Exit codes: 0 clean stop,
//! 1 runtime failure (cannot bind, cannot open the log), 2 bad flags.

use std::process::ExitCode;

use clap::Parser;
use hub::config::Args;
use hub::server::Hub;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => return hub::config::clap_failure("hub", e),
    };
    let cfg = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hub: {e}");
            return ExitCode::from(2);
        }
    };
    let hub = match Hub::bind(cfg) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("hub: {e}");
            return ExitCode::from(1);
        }
    };
    let stop = hub.stop_flag();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("hub: cannot install signal handler: {e}");
            return ExitCode::from(1);
        }
    }
    println!("{}", hub.banner());
    match hub.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hub: {e}");
            ExitCode::from(1)
        }
    }
}
