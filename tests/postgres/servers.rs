//! PostgreSQL servers of the tests' own: `initdb` in a temporary directory (as `nobody`
//! when the tests run as root, since PostgreSQL refuses to run as root), `postgres` on a
//! free loopback port, stopped when dropped.
#![allow(unreachable_pub)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::common::eventually;

/// Where PostgreSQL's server programs are: on `PATH`, or in Debian's
/// `/usr/lib/postgresql/<version>/bin` (the newest).
fn bin_dir() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn program(name: &str) -> PathBuf {
    bin_dir().map_or_else(|| PathBuf::from(name), |dir| dir.join(name))
}

/// Whether the tests can run: PostgreSQL's server and `psql`/`pg_dump` are installed.
/// Prints a line saying how to get them when not (and fails under `.ci/run`).
pub fn available() -> bool {
    let initdb = program("initdb");
    crate::common::have(
        initdb.to_str().unwrap_or("initdb"),
        "apt-get install postgresql",
    ) && crate::common::have("psql", "apt-get install postgresql-client")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

/// A command for a server program, run as `nobody` when the tests run as root.
fn as_server_user(name: &str) -> Command {
    if running_as_root() {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(program(name));
        command
    } else {
        Command::new(program(name))
    }
}

/// A PostgreSQL server of the test's own, with the database `app`.
pub struct PgServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl PgServer {
    pub async fn start() -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("tower-sse-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if running_as_root() {
            let status = Command::new("chown")
                .arg("65534:65534")
                .arg(&dir)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let status = as_server_user("initdb")
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(dir.join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let mut server = Self {
            child: None,
            port,
            dir,
        };
        server.restart().await;
        server.psql("postgres", "CREATE DATABASE app");
        server
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/app", self.port)
    }

    /// Starts the server again on the same port and data directory.
    pub async fn restart(&mut self) {
        use std::os::unix::process::CommandExt as _;
        let child = as_server_user("postgres")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=200", "-c", "full_page_writes=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("postgres starts");
        self.child = Some(child);
        let port = self.port;
        eventually(
            Duration::from_secs(20),
            "postgres accepts connections",
            || {
                Command::new("psql")
                    .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
                    .args(["-d", "postgres", "-Atc", "SELECT 1"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success())
            },
        )
        .await;
    }

    /// Runs `sql` with `psql` on `database`; returns what it printed (unaligned).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", sql])
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Dumps the database `app` to a file of the test's directory.
    pub fn dump(&self) -> PathBuf {
        let file = self.dir.join("app.sql");
        let status = Command::new("pg_dump")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", "app", "-f"])
            .arg(&file)
            .status()
            .expect("pg_dump runs");
        assert!(status.success(), "pg_dump failed");
        file
    }

    /// Replaces the database `app` with the dump at `file`: restored into a new
    /// database, which then takes the name of the old one, dropped with its
    /// connections.
    pub fn restore(&self, file: &Path) {
        self.psql("postgres", "DROP DATABASE IF EXISTS restoring");
        self.psql("postgres", "CREATE DATABASE restoring");
        let status = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", "restoring", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
            .arg(file)
            .stdout(Stdio::null())
            .status()
            .expect("psql runs");
        assert!(status.success(), "the restore failed");
        self.psql("postgres", "DROP DATABASE app WITH (FORCE)");
        self.psql("postgres", "ALTER DATABASE restoring RENAME TO app");
    }

    /// Replaces what `app` holds with the dump at `file`, in place: its schema dropped
    /// and loaded again while every connection stays open.
    pub fn restore_in_place(&self, file: &Path) {
        self.psql("app", "DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
        let status = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", "app", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
            .arg(file)
            .stdout(Stdio::null())
            .status()
            .expect("psql runs");
        assert!(status.success(), "the restore failed");
    }

    /// Stops the server and all its processes with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
        }
    }

    /// Stops the server with a fast shutdown, which closes every connection.
    pub fn stop_gracefully(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub use crate::common::proxy::Proxy;
