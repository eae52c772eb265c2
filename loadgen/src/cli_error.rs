//! One-line CLI errors that keep clap's useful detail: the missing
//! argument's name, the possible values, "did you mean", and a plain
//! message for a negative value (which clap would call an unexpected
//! argument). [`one_line`] is pure: clap's rendered error and argv in, the
//! line out.

/// The one line for clap's rendered error `text`, given the command line.
pub fn one_line(prog: &str, text: &str, argv: &[String]) -> String {
    // `--duration -1`: clap sees `-1` as an unknown flag.
    if let Some(i) = argv.iter().position(|a| is_negative_number(a)) {
        if text.contains(&format!("'{}'", argv[i])) && i > 0 && argv[i - 1].starts_with("--") {
            return format!(
                "{prog}: {} {}: negative values are not allowed (see {prog} --help)",
                argv[i - 1],
                argv[i]
            );
        }
    }
    let mut parts: Vec<String> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with("For more information") {
            continue;
        }
        if l.starts_with("Usage:") {
            break;
        }
        let l = l.trim_start_matches("error: ").trim_start_matches("tip: ");
        parts.push(l.to_string());
    }
    let mut s = parts.join("; ");
    if s.is_empty() {
        s = "bad arguments".into();
    }
    format!("{prog}: {s} (see {prog} --help)")
}

fn is_negative_number(a: &str) -> bool {
    a.strip_prefix('-')
        .is_some_and(|r| !r.is_empty() && r.parse::<f64>().is_ok())
}

/// Prints `e` on one line (help and version as clap prints them) and gives
/// the exit code: 0 for help/version, 2 otherwise.
pub fn report(prog: &str, e: clap::Error, argv: &[String]) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return std::process::ExitCode::SUCCESS;
    }
    eprintln!("{}", one_line(prog, &e.render().to_string(), argv));
    std::process::ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn line(args: &[&str]) -> String {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let e = Cli::try_parse_from(&argv).unwrap_err();
        one_line("loadgen", &e.render().to_string(), &argv)
    }

    #[test]
    fn details_survive_on_one_line() {
        let l = line(&["loadgen", "--duration", "-1"]);
        assert!(l.contains("--duration -1: negative values"), "{l}");
        let l = line(&["loadgen", "--sumary", "none"]);
        assert!(l.contains("--sumary") && l.contains("--summary"), "{l}");
        let l = line(&["loadgen", "--summary", "bogus"]);
        assert!(l.contains("text") && l.contains("none"), "{l}");
        let l = line(&["loadgen", "--stage-target", "up"]);
        assert!(
            l.contains("'up'") && l.contains("rate") && l.contains("devices"),
            "{l}"
        );
        let l = line(&["loadgen", "merge"]);
        assert!(l.contains("<REPORTS>"), "{l}");
        assert_eq!(l.lines().count(), 1, "{l}");
    }
}
