//! The `hub` binary: parse flags, bind, print where it listens, run until
//! SIGINT/SIGTERM/SIGQUIT or the `shutdown` command (SIGHUP reopens the
//! log, SIGUSR1 logs a stats line; see `server/signals.rs`). Exit codes: 0 clean stop,
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
    let mut hub = match Hub::bind(cfg) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("hub: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = hub.handle_signals() {
        eprintln!("hub: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    {
        // A closed stdout must not stop the hub: the banner is best effort.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", hub.banner());
        let _ = out.flush();
    }
    match hub.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hub: {e}");
            ExitCode::from(1)
        }
    }
}
