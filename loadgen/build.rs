//! Records the git commit loadgen was built from (reported as
//! `run.git_commit`; absent outside a git checkout).
fn main() {
    if let Ok(o) = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
    {
        if o.status.success() {
            let c = String::from_utf8_lossy(&o.stdout);
            println!("cargo:rustc-env=LOADGEN_GIT_COMMIT={}", c.trim());
        }
    }
}
