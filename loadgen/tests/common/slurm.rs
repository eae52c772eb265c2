//! A one-node Slurm cluster for one test, from Debian's `slurm-wlm` and
//! `munge`: `munged` with its own key, socket and pid file, `slurmctld -D`
//! and `slurmd -D`, every file in a temp dir, private ports on loopback.
//! The daemons are this test's children and are stopped when the
//! [`Cluster`] drops. Slurm needs root here (`SlurmUser=root`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Longest wait for the node to show `idle` in `sinfo`.
pub const NODE_UP_DEADLINE: Duration = Duration::from_secs(60);
/// Longest wait for a daemon to exit after SIGTERM before SIGKILL.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// The programs the cluster needs.
pub const TOOLS: &[&str] = &["munged", "slurmctld", "slurmd", "sinfo", "srun", "sbatch"];

/// Why the cluster cannot run here (a missing tool, not root), or `None`.
pub fn unavailable() -> Option<String> {
    let missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|t| which(t).is_none())
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "missing {} (apt-get install slurm-wlm munge)",
            missing.join(", ")
        ));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("a one-node Slurm cluster with SlurmUser=root needs root".into());
    }
    None
}

fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The running cluster.
pub struct Cluster {
    pub dir: PathBuf,
    pub conf: PathBuf,
    daemons: Vec<(&'static str, Child)>,
}

impl Cluster {
    /// Writes the config under a fresh temp dir and starts the daemons;
    /// returns once `sinfo` shows the node idle.
    pub fn start(tag: &str) -> Cluster {
        let dir = std::env::temp_dir().join(format!("slurm-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["munge", "sock", "state", "spool", "log"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        // munged wants its key private and its socket's directory
        // searchable by all (clients of any user connect to it).
        let open = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(&dir, open.clone()).unwrap();
        std::fs::set_permissions(dir.join("sock"), open).unwrap();
        std::fs::set_permissions(dir.join("munge"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        let key = dir.join("munge/munge.key");
        let mut bytes = vec![0u8; 1024];
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut bytes)
            .unwrap();
        std::fs::write(&key, &bytes).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
        let socket = dir.join("sock/munge.sock");
        let mut cluster = Cluster {
            conf: dir.join("slurm.conf"),
            dir: dir.clone(),
            daemons: Vec::new(),
        };
        let p = |s: &str| dir.join(s).display().to_string();
        cluster.spawn(
            "munged",
            &[
                "-F".into(),
                format!("--key-file={}", key.display()),
                format!("--socket={}", socket.display()),
                format!("--pid-file={}", p("munge/munged.pid")),
                format!("--log-file={}", p("munge/munged.log")),
                format!("--seed-file={}", p("munge/munged.seed")),
            ],
        );
        wait_for(Duration::from_secs(10), "munged's socket", || {
            socket.exists()
        });
        let host = hostname();
        let conf = format!(
            "ClusterName=hubstorm-test\n\
             SlurmctldHost={host}(127.0.0.1)\n\
             SlurmctldPort={ctld}\n\
             SlurmdPort={slurmd}\n\
             SlurmUser=root\n\
             SlurmdUser=root\n\
             AuthType=auth/munge\n\
             CredType=cred/munge\n\
             AuthInfo=socket={socket}\n\
             StateSaveLocation={state}\n\
             SlurmdSpoolDir={spool}\n\
             SlurmctldPidFile={ctld_pid}\n\
             SlurmdPidFile={slurmd_pid}\n\
             SlurmctldLogFile={ctld_log}\n\
             SlurmdLogFile={slurmd_log}\n\
             ProctrackType=proctrack/linuxproc\n\
             TaskPlugin=task/none\n\
             JobAcctGatherType=jobacct_gather/none\n\
             AccountingStorageType=accounting_storage/none\n\
             SelectType=select/cons_tres\n\
             SelectTypeParameters=CR_CPU\n\
             MpiDefault=none\n\
             ReturnToService=2\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN\n\
             PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES\n",
            ctld = free_port(),
            slurmd = free_port(),
            socket = socket.display(),
            state = p("state"),
            spool = p("spool"),
            ctld_pid = p("slurmctld.pid"),
            slurmd_pid = p("slurmd.pid"),
            ctld_log = p("log/slurmctld.log"),
            slurmd_log = p("log/slurmd.log"),
        );
        std::fs::write(&cluster.conf, conf).unwrap();
        let f = cluster.conf.display().to_string();
        cluster.spawn("slurmctld", &["-D".into(), "-f".into(), f.clone()]);
        cluster.spawn("slurmd", &["-D".into(), "-f".into(), f]);
        let deadline = Instant::now() + NODE_UP_DEADLINE;
        loop {
            let out = cluster.cmd("sinfo", &["--noheader", "--format=%t"]);
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if state == "idle" {
                break;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the node is `{state}`, not idle, after {NODE_UP_DEADLINE:?}; logs in {}",
                    dir.join("log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        cluster
    }

    fn spawn(&mut self, prog: &'static str, args: &[String]) {
        let out = std::fs::File::create(self.dir.join(format!("log/{prog}.out"))).unwrap();
        let child = Command::new(which(prog).unwrap_or_else(|| prog.into()))
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {prog}: {e}"));
        self.daemons.push((prog, child));
    }

    /// A Slurm client command against this cluster, bounded by a 120 s
    /// deadline.
    pub fn cmd(&self, prog: &str, args: &[&str]) -> Output {
        self.cmd_env(prog, args, &[], Path::new("/"))
    }

    /// [`Self::cmd`] in `cwd` with extra environment.
    pub fn cmd_env(
        &self,
        prog: &str,
        args: &[&str],
        envs: &[(&str, String)],
        cwd: &Path,
    ) -> Output {
        let mut c = Command::new(prog);
        c.args(args)
            .env("SLURM_CONF", &self.conf)
            .current_dir(cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap_or_else(|e| panic!("{prog}: {e}"));
        super::fleet::wait_bounded(&mut child, Instant::now() + Duration::from_secs(120), prog);
        child.wait_with_output().unwrap()
    }

    /// The daemons' logs, for a failure message.
    pub fn logs(&self) -> String {
        ["log/slurmctld.log", "log/slurmd.log", "log/slurmd.out"]
            .iter()
            .map(|f| {
                let t = std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
                let tail: Vec<&str> = t.lines().rev().take(15).collect();
                format!(
                    "== {f}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    /// Stops the daemons in reverse order: SIGTERM, then SIGKILL past
    /// [`STOP_DEADLINE`].
    fn drop(&mut self) {
        while let Some((_, mut child)) = self.daemons.pop() {
            // SAFETY: signalling our own child by its pid.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + STOP_DEADLINE;
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_for(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "no {what} after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `hostname -s`: the node's name in slurm.conf.
pub fn hostname() -> String {
    let out = Command::new("hostname")
        .arg("-s")
        .output()
        .expect("hostname -s");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
