//! PostgreSQL servers of the tests' own: a data directory of their own (copied from one
//! `initdb` made, as `nobody` when the tests run as root, since PostgreSQL refuses to run
//! as root), `postgres` on a free loopback port, stopped when dropped.
#![allow(unreachable_pub)]
// Each test binary that includes this file uses some of it.
#![allow(dead_code)]

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
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

/// A PostgreSQL server of the test's own, with the database `app`. It logs every
/// statement, with its process id, to `server.log` in its directory (see
/// [`listening`](Self::listening)).
pub struct PgServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl PgServer {
    pub async fn start() -> Self {
        let port = free_port();
        let dir = crate::common::scratch_dir()
            .join(format!("tower-sse-pg-{}-{port}", std::process::id()));
        server_owned_dir(&dir);
        fresh_data(&dir.join("data"));
        let mut server = Self {
            child: None,
            port,
            dir,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/app", self.port)
    }

    /// Starts the server again on the same port and data directory (and creates the
    /// database `app` if it is missing).
    pub async fn restart(&mut self) {
        use std::os::unix::process::CommandExt as _;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .unwrap();
        let child = as_server_user("postgres")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=200", "-c", "full_page_writes=off"])
            // Shared memory in files of the data directory, which goes with it: POSIX
            // segments would outlive a server the tests `kill -9`.
            .args(["-c", "dynamic_shared_memory_type=mmap"])
            .args(["-c", "log_statement=all", "-c", "log_line_prefix=%p "])
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("postgres starts");
        self.child = Some(child);
        eventually(
            Duration::from_secs(20),
            "postgres accepts connections",
            || {
                self.client("psql")
                    .args(["-d", "postgres", "-Atc", "SELECT 1"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success())
            },
        )
        .await;
        let exists = self.psql(
            "postgres",
            "SELECT 1 FROM pg_database WHERE datname = 'app'",
        );
        if exists.trim().is_empty() {
            self.psql("postgres", "CREATE DATABASE app");
        }
    }

    /// Kills the server and starts it again on a data directory made anew: everything
    /// stored is gone.
    pub async fn restart_empty(&mut self) {
        self.kill();
        let data = self.dir.join("data");
        std::fs::remove_dir_all(&data).unwrap();
        fresh_data(&data);
        self.restart().await;
    }

    /// A command of PostgreSQL's clients (`psql`, `pg_dump`) reaching this server.
    fn client(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        command.args(["-U", "postgres"]);
        command
    }

    /// Runs `sql` with `psql` on `database`; returns what it printed (unaligned).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = self
            .client("psql")
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

    /// Runs the SQL file `file` with `psql` on `database`.
    fn psql_file(&self, database: &str, file: &Path) {
        let status = self
            .client("psql")
            .args(["-d", database, "-q", "-v", "ON_ERROR_STOP=1", "-f"])
            .arg(file)
            .stdout(Stdio::null())
            .status()
            .expect("psql runs");
        assert!(status.success(), "the restore failed");
    }

    /// Dumps the database `app` to a file of the test's directory.
    pub fn dump(&self) -> PathBuf {
        let file = self.dir.join("app.sql");
        let status = self
            .client("pg_dump")
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
        self.psql_file("restoring", file);
        self.psql("postgres", "DROP DATABASE app WITH (FORCE)");
        self.psql("postgres", "ALTER DATABASE restoring RENAME TO app");
    }

    /// Replaces what `app` holds with the dump at `file`, in place: its schema dropped
    /// and loaded again while every connection stays open.
    pub fn restore_in_place(&self, file: &Path) {
        self.psql("app", "DROP SCHEMA public CASCADE; CREATE SCHEMA public;");
        self.psql_file("app", file);
    }

    /// How many live connections listen on `topic`'s channel (`LISTEN` through the
    /// hub's `<prefix>listen`): read from the statements the server logged, as
    /// PostgreSQL shows no session's channels to another.
    pub fn listening(&self, prefix: &str, topic: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let mut last: std::collections::HashMap<&str, bool> = Default::default();
        let mut pending: Option<(&str, bool)> = None;
        for line in log.lines() {
            let Some((pid, rest)) = line.split_once(' ') else {
                continue;
            };
            if rest.contains(&format!("SELECT {prefix}listen($1)")) {
                pending = Some((pid, true));
            } else if rest.contains(&format!("SELECT {prefix}unlisten($1)")) {
                pending = Some((pid, false));
            } else if let Some((at, on)) = pending.filter(|(at, _)| *at == pid) {
                if rest.contains("DETAIL:") && rest.ends_with(&format!("$1 = '{topic}'")) {
                    last.insert(at, on);
                }
                pending = None;
            }
        }
        let alive = self.psql("postgres", "SELECT pid FROM pg_stat_activity");
        let alive: Vec<&str> = alive.lines().collect();
        last.iter()
            .filter(|(pid, on)| **on && alive.contains(pid))
            .count()
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`) to the server and all its processes
    /// (each of which PostgreSQL puts in a process group of its own). Except for
    /// `CONT`, the postmaster is stopped first, so that it starts no other meanwhile.
    pub fn signal(&self, signal: &str) {
        let Some(child) = &self.child else {
            return;
        };
        let postmaster = child.id();
        let send = |pid: u32, signal: &str| {
            // Quietly: a child may have ended meanwhile.
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        };
        if signal != "CONT" {
            send(postmaster, "STOP");
        }
        for pid in children_of(postmaster) {
            send(pid, signal);
        }
        send(postmaster, signal);
    }

    /// Stops the server and all its processes with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        self.signal("KILL");
        if let Some(mut child) = self.child.take() {
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

/// The processes whose parent is `parent`, from `/proc`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (name) state ppid ...`: the name may hold spaces, not `)`.
            let ppid: u32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

/// An empty directory at `dir` that the server's user owns.
fn server_owned_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    if running_as_root() {
        let status = Command::new("chown")
            .arg("65534:65534")
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// A new data directory at `data`, with the database `app`: a copy of a template made
/// once (`initdb` takes a second or two under load, a copy in memory some
/// milliseconds).
fn fresh_data(data: &Path) {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    let status = Command::new("cp")
        .arg("-a")
        .arg(TEMPLATE.get_or_init(template))
        .arg(data)
        .status()
        .expect("cp runs");
    assert!(
        status.success(),
        "copying the template data directory failed"
    );
}

/// The template data directory, kept between runs beside the servers' directories
/// (one per PostgreSQL version). A process that finds none makes one under a name of
/// its own and renames it into place, so processes starting together never copy half
/// of one.
fn template() -> PathBuf {
    let out = Command::new(program("postgres"))
        .arg("--version")
        .output()
        .expect("postgres runs");
    let printed = String::from_utf8_lossy(&out.stdout);
    let version = printed.split_whitespace().nth(2).unwrap_or("unknown");
    let scratch = crate::common::scratch_dir();
    let template = scratch.join(format!("tower-sse-pg-template-{version}"));
    if template.is_dir() {
        return template;
    }
    let making = scratch.join(format!("tower-sse-pg-template-{}", std::process::id()));
    server_owned_dir(&making);
    let data = making.join("data");
    initdb(&data);
    // The database `app`, made in single-user mode: no server, no port.
    let mut single = as_server_user("postgres")
        .arg("--single")
        .arg("-D")
        .arg(&data)
        .arg("postgres")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres --single runs");
    let mut input = single.stdin.take().unwrap();
    input.write_all(b"CREATE DATABASE app;\n").unwrap();
    drop(input);
    assert!(
        single.wait().unwrap().success(),
        "CREATE DATABASE app failed"
    );
    // Another process may have put its own in place first: then this one is not needed.
    let _ = std::fs::rename(&data, &template);
    let _ = std::fs::remove_dir_all(&making);
    template
}

/// A data directory made by `initdb` at `data`.
fn initdb(data: &Path) {
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
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("initdb runs");
    assert!(status.success(), "initdb failed");
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.signal("CONT");
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[allow(unused_imports)]
pub use crate::common::proxy::Proxy;
