//! `scripts/compare.sh` on the committed fixtures: the table's rows and
//! ratios, an SVG and a PNG for each chart, and the reports as report.html.
//! Installs gnuplot-nox with apt when it is missing (CI runs as root).

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn compare_prints_the_table_and_draws_svg_and_png() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let fx = root.join("loadgen/tests/fixtures");
    let out = std::env::temp_dir().join(format!("loadgen-compare-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let files: Vec<PathBuf> = [
        "half1.json",
        "half2.json",
        "rate500.json",
        "rate2000.json",
        "v2run.json",
        "limits.json",
    ]
    .iter()
    .map(|f| fx.join(f))
    .collect();
    let o = Command::new("bash")
        .arg(root.join("scripts/compare.sh"))
        .arg("--out")
        .arg(&out)
        .args(&files)
        .env("LOADGEN", env!("CARGO_BIN_EXE_loadgen"))
        .output()
        .expect("run compare.sh");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for needle in [
        "A: ",
        "D: ",
        "L1: ",
        "datagrams/s",
        "status p50 ms",
        "status p99 ms",
        "status p99.9 ms",
        "unexplained loss",
        "udp cpu per datagram",
        "connect+register rate",
        "command wave time",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
    // Columns after the first carry their ratio to it.
    let dps = stdout
        .lines()
        .find(|l| l.starts_with("datagrams/s"))
        .unwrap();
    assert!(dps.contains("x)"), "{dps}");
    // 3 waves per report: too few samples to draw a spectrum; said so.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!out.join("spectrum_wave.svg").exists());
    assert!(
        stderr.contains("wave: left out (fewer than 20 samples)"),
        "{stderr}"
    );
    let svg = std::fs::read_to_string(out.join("spectrum_status.svg")).unwrap();
    assert!(
        svg.contains("(n=23)") && svg.contains("commit"),
        "sample counts and commit in the chart"
    );
    for chart in ["spectrum_status", "timeline_v2run", "scenarios", "sweep"] {
        for ext in ["svg", "png"] {
            let p = out.join(format!("{chart}.{ext}"));
            let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            assert!(len > 1000, "{} missing or empty", p.display());
        }
    }
    let png = std::fs::read(out.join("spectrum_status.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(out.join("half1.status.hgrm").exists());
    // The reports (not the limits file) as one page, the table in it.
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        page.contains("id=\"compare-table\"") && page.contains("id=\"report-E\""),
        "report.html lacks the comparison or a report"
    );
    assert!(
        !page.contains("id=\"report-F\""),
        "the limits file is no report"
    );
    assert!(stdout.contains(&format!("page: {}", out.join("report.html").display())));
    // A non-empty --out is refused: every comparison gets a fresh folder.
    let again = Command::new("bash")
        .arg(root.join("scripts/compare.sh"))
        .arg("--out")
        .arg(&out)
        .args(&files)
        .env("LOADGEN", env!("CARGO_BIN_EXE_loadgen"))
        .output()
        .expect("run compare.sh");
    assert_eq!(again.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&out);
}
