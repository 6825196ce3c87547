//! What the multi-process tests of the `veil` binary share: running `veil` with a time limit,
//! children that die with the test, free loopback ports, CSV inputs and file modes.
#![allow(dead_code, clippy::unwrap_used)]

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `veil args...` to completion, killing it (and failing the test) if it outlives `limit`.
pub fn veil<S: AsRef<OsStr> + std::fmt::Debug>(args: &[S], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veil")).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("veil {args:?} exceeded {limit:?}; stderr: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Rows as CSV with full `f64` precision.
pub fn write_csv(path: &Path, rows: &[Vec<f64>]) {
    let text: Vec<String> = rows.iter().map(|r| r.iter().map(|v| format!("{v:.17e}")).collect::<Vec<_>>().join(",")).collect();
    std::fs::write(path, text.join("\n")).unwrap();
}

/// The permission bits of a file.
#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// How the members of a three-process job (`party-a`, `party-b`, `server`) reach each other, as
/// job-file TOML: `keys` are top-level keys (they go before the job's own tables), `members`
/// the member tables (last).
pub struct MeshToml {
    pub keys: String,
    pub members: String,
}

/// [`MeshToml`] for TLS links (a fresh CA in `dir/pki`, free loopback ports) or, with
/// `mailbox`, for the mailbox directory `dir/mailbox`; every wait bounded by `timeout_secs`.
pub fn mesh_toml(dir: &Path, mailbox: bool, timeout_secs: u64) -> MeshToml {
    if mailbox {
        let mailbox = dir.join("mailbox");
        std::fs::create_dir_all(&mailbox).unwrap();
        return MeshToml {
            keys: format!("mailbox = \"{}\"\ntimeout_secs = {timeout_secs}\n", mailbox.display()),
            members: "[[parties]]\nname = \"party-a\"\n[[parties]]\nname = \"party-b\"\n[server]\nname = \"server\"\n".into(),
        };
    }
    let certs = dir.join("pki");
    std::fs::create_dir_all(&certs).unwrap();
    veil_transport::pki::create_local(&certs, &["party-a", "party-b", "server"]).unwrap();
    let ports = free_ports(3);
    MeshToml {
        keys: format!("certs = \"{}\"\ntimeout_secs = {timeout_secs}\n", certs.display()),
        members: format!(
            "[[parties]]\nname = \"party-a\"\naddr = \"127.0.0.1:{}\"\n[[parties]]\nname = \"party-b\"\naddr = \"127.0.0.1:{}\"\n\
             [server]\nname = \"server\"\naddr = \"127.0.0.1:{}\"\n",
            ports[0], ports[1], ports[2]
        ),
    }
}

/// `n` free loopback ports (bound and released; the children bind them right after).
pub fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<std::net::TcpListener> = (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// A `veil` child process that is killed if the test ends before it does.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `veil args...` with piped standard output and error.
pub fn spawn(args: &[&str]) -> Child {
    Child(Command::new(env!("CARGO_BIN_EXE_veil")).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
}

/// Waits for `child` at most `limit` (failing the test after it); returns (success, stdout,
/// stderr). Standard output is drained on a thread so that a large output cannot block it.
pub fn finish(mut child: Child, limit: Duration) -> (bool, String, String) {
    let start = Instant::now();
    let mut stdout = child.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            let out = reader.join().unwrap();
            let mut err = String::new();
            if let Some(mut e) = child.0.stderr.take() {
                e.read_to_string(&mut err).unwrap();
            }
            return (status.success(), out, err);
        }
        assert!(start.elapsed() < limit, "child still running after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` (`-KILL`, `-STOP`, ...) to a child.
#[cfg(unix)]
pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill").args([sig, &child.0.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// Reads the child's standard error until a line contains `needle`, failing the test if the
/// child ends first (`what` names the awaited event) or after `limit`. Returns the rest of the
/// stream: keep it alive, so the child's later writes to standard error do not fail.
pub fn await_stderr_line(
    child: &mut Child,
    needle: &str,
    limit: Duration,
    what: &str,
) -> std::io::Lines<std::io::BufReader<std::process::ChildStderr>> {
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.0.stderr.take().unwrap()).lines();
    let start = Instant::now();
    loop {
        let line = lines.next().unwrap_or_else(|| panic!("the child ended before {what}")).unwrap();
        if line.contains(needle) {
            return lines;
        }
        assert!(start.elapsed() < limit, "{what} did not happen within {limit:?}");
    }
}
