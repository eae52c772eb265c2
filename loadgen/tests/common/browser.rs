//! Headless Chromium for the tests of `loadgen report`: [`open`] loads one
//! local file in a fresh profile, bounded in time (the whole process group
//! is killed past [`BROWSER_TIMEOUT`]), and returns what the browser saw:
//! the DOM after the load event (`--dump-dom`), its log on stderr (console
//! messages are `…:CONSOLE…` lines) and its net log (`--log-net-log`), in
//! which a request a page made has an initiator; Chromium's own background
//! requests (time, updates, sign-in) have `"not an origin"` and are not the
//! page's. CI installs Chromium (`.ci/run`); its absence fails the test.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Debian's Chromium launcher.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Longest one page load may take (a cold start on a busy 2-core machine
/// takes a few seconds).
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// One browser at a time: the machine is small and shared.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// What the browser saw of one page.
pub struct Visit {
    pub dom: String,
    pub log: String,
    pub net: Value,
}

impl Visit {
    /// An attribute of the root `<html>` element (the page's script writes
    /// its findings there).
    pub fn root_attr(&self, name: &str) -> Option<&str> {
        let start = self.dom.find("<html")?;
        let tag = &self.dom[start..start + self.dom[start..].find('>')?];
        attr_value(tag, name)
    }

    /// The `data-value` of the element with `id`.
    pub fn figure(&self, id: &str) -> Option<&str> {
        let key = format!("id=\"{id}\"");
        let at = self.dom.find(&key)?;
        let tag = &self.dom[at..at + self.dom[at..].find('>')?];
        attr_value(tag, "data-value")
    }

    /// Console messages the page produced.
    pub fn console(&self) -> Vec<&str> {
        self.log
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .collect()
    }

    /// URLs of network requests the page made (not Chromium's own).
    pub fn page_requests(&self) -> Vec<String> {
        let Some(start_job) =
            self.net["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].as_u64()
        else {
            panic!("the net log has no event type table");
        };
        let events = self.net["events"].as_array().expect("net log events");
        events
            .iter()
            .filter(|e| e["type"].as_u64() == Some(start_job))
            .filter_map(|e| {
                let p = &e["params"];
                let url = p["url"].as_str()?;
                let by_page = p["initiator"].as_str() != Some("not an origin")
                    || p["network_isolation_key"]
                        .as_str()
                        .is_some_and(|k| k.contains("file:"));
                by_page.then(|| url.to_string())
            })
            .collect()
    }
}

/// The value of ` name="…"` in a start tag.
fn attr_value<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(&tag[at..at + tag[at..].find('"')?])
}

/// Opens `page` (an absolute path) in headless Chromium with a fresh
/// profile under `scratch`, and waits for it to dump the DOM and exit.
pub fn open(page: &Path, scratch: &Path) -> Visit {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)"
    );
    let stem = page.file_stem().unwrap().to_string_lossy().to_string();
    let profile = scratch.join(format!("profile-{stem}"));
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).unwrap();
    let (dom_p, log_p, net_p) = (
        scratch.join(format!("{stem}.dom.html")),
        scratch.join(format!("{stem}.chromium.log")),
        scratch.join(format!("{stem}.netlog.json")),
    );
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--log-net-log={}", net_p.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&dom_p).unwrap())
        .stderr(std::fs::File::create(&log_p).unwrap())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("start {CHROMIUM}: {e}"));
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() >= deadline {
            // The browser and every process it started: our group only.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            panic!(
                "chromium did not finish {} within {BROWSER_TIMEOUT:?}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let (dom, log) = (read(&dom_p), read(&log_p));
    assert!(status.success(), "chromium failed ({status}):\n{log}");
    let net = serde_json::from_str(&read(&net_p))
        .unwrap_or_else(|e| panic!("{}: not a complete net log: {e}", net_p.display()));
    Visit { dom, log, net }
}
