//! A real PostgreSQL server for tests, from the Debian `postgresql` package:
//! `initdb` and `pg_ctl` run as the `postgres` user (the server refuses to
//! run as root) on a temporary directory, listening on 127.0.0.1 at a free
//! port with its socket in that directory.
//!
//! Without the binaries the tests that need them are skipped with a printed
//! reason, except under `CI`, where that is a failure.
//!
//! Included by several test crates with `#[path]`; not every one uses all of it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A PostgreSQL server in a temporary directory; stopped (immediately, as
/// a crash would) when dropped.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

/// One database of a cluster, dropped with the value (if the server is up).
pub struct Database {
    pub url: String,
    name: String,
    dropdb: PathBuf,
    port: u16,
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new(&self.dropdb)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "--force", &self.name])
            .output();
    }
}

/// The binaries' directory, or why there is none. Panics under `CI`.
pub fn binaries() -> Option<PathBuf> {
    let found = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|versions| {
        let mut bins: Vec<PathBuf> = versions
            .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
            .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
            .collect();
        bins.sort();
        bins.pop()
    });
    if found.is_none() {
        let reason = "PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)";
        assert!(std::env::var_os("CI").is_none(), "{reason}; CI must run the PostgreSQL tests");
        eprintln!("skipped: {reason}");
    }
    found
}

/// Runs `command` as the `postgres` user when we are root, else as ourselves.
fn as_postgres(program: &Path, args: &[&str]) -> Command {
    let running_as_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if running_as_root {
        let quoted: Vec<String> = std::iter::once(program.display().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect();
        let mut command = Command::new("su");
        command.args(["postgres", "-s", "/bin/sh", "-c", &quoted.join(" ")]);
        command
    } else {
        let mut command = Command::new(program);
        command.args(args);
        command
    }
}

fn run(mut command: Command, what: &str) {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Cluster {
    /// A new, running server; `None` (skipped) without the binaries.
    pub fn start() -> Option<Cluster> {
        let bin = binaries()?;
        let dir = tempfile::Builder::new().prefix("facecmp-pg").tempdir().unwrap();
        run(
            {
                let mut chown = Command::new("chown");
                chown.args(["-R", "postgres", &dir.path().display().to_string()]);
                chown
            },
            "chown",
        );
        let data = dir.path().join("data").display().to_string();
        run(
            as_postgres(
                &bin.join("initdb"),
                &["-D", &data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"],
            ),
            "initdb",
        );
        let cluster = Cluster { bin, dir, port: free_port() };
        cluster.pg_ctl_start();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Starts (or restarts) the server and waits until it accepts connections.
    pub fn pg_ctl_start(&self) {
        let options = format!(
            "-k {} -c listen_addresses=127.0.0.1 -p {} -c fsync=off -c max_connections=200",
            self.dir.path().display(),
            self.port
        );
        let log = self.dir.path().join("log").display().to_string();
        run(
            as_postgres(
                &self.bin.join("pg_ctl"),
                &["-D", &self.data(), "-l", &log, "-o", &options, "-w", "start"],
            ),
            "pg_ctl start",
        );
    }

    /// Stops the server at once, as a crash or a pulled cable would.
    pub fn stop_immediately(&self) {
        run(
            as_postgres(&self.bin.join("pg_ctl"), &["-D", &self.data(), "-m", "immediate", "-w", "stop"]),
            "pg_ctl stop",
        );
    }

    fn client_command(&self, tool: &str) -> Command {
        let mut command = Command::new(self.bin.join(tool));
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres"]);
        command
    }

    /// A new, empty database; its URL has no password (trust on loopback).
    pub fn database(&self) -> Database {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("facecmp_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut createdb = self.client_command("createdb");
        createdb.arg(&name);
        run(createdb, "createdb");
        Database {
            url: format!("postgres://postgres@127.0.0.1:{}/{name}", self.port),
            name,
            dropdb: self.bin.join("dropdb"),
            port: self.port,
        }
    }

    /// Runs one SQL statement with psql and returns its unaligned output.
    pub fn sql(&self, database: &Database, statement: &str) -> String {
        let output = self
            .client_command("psql")
            .args(["-d", &database.name, "-At", "-c", statement])
            .output()
            .expect("psql runs");
        assert!(output.status.success(), "psql: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"), &["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .output();
    }
}

/// One server shared by every test of this process: a fresh database per
/// test. A watcher process stops it when this process ends (a static is
/// never dropped).
pub fn shared() -> Option<&'static Cluster> {
    static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let cluster = Cluster::start()?;
            let stop = format!(
                "while kill -0 {} 2>/dev/null; do sleep 1; done; su postgres -s /bin/sh -c \"'{}' -D '{}' -m immediate stop\"; rm -rf '{}'",
                std::process::id(),
                cluster.bin.join("pg_ctl").display(),
                cluster.data(),
                cluster.dir.path().display()
            );
            let _ = Command::new("sh").args(["-c", &stop]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
            Some(cluster)
        })
        .as_ref()
}

/// A fresh database on the shared server, or `None` (skipped).
pub fn database() -> Option<Database> {
    Some(shared()?.database())
}
