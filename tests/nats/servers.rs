//! `nats-server`s of the tests' own, on free loopback ports with JetStream in a
//! temporary store directory.
#![allow(unreachable_pub, dead_code)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::common::eventually;

/// Whether the tests can run: `nats-server` is installed. Prints a line saying how to
/// get it when not (and fails under `.ci/run`).
pub fn available() -> bool {
    crate::common::have("nats-server", "apt-get install nats-server")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `nats-server -js` of the test's own, with a temporary store directory, stopped
/// with SIGKILL when dropped.
pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl NatsServer {
    pub async fn start() -> Self {
        let port = free_port();
        let dir = crate::common::scratch_dir()
            .join(format!("tower-sse-nats-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            child: None,
            port,
            dir,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port and store directory: JetStream reads
    /// back what it stored.
    pub async fn restart(&mut self) {
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("-sd")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let port = self.port;
        eventually(Duration::from_secs(10), "nats-server listens", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
    }

    /// Starts the server again on the same port with an empty store: it lost its data.
    pub async fn restart_empty(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir).unwrap();
        self.restart().await;
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server, if it runs. A `STOP` returns once
    /// every thread of the server has stopped: a signal is delivered asynchronously, and
    /// a request sent at once could still be answered.
    pub fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            crate::common::signal(child.id(), signal);
            if signal == "STOP" {
                until_stopped(child.id());
            }
        }
    }

    /// Copies the store as it is now (stopping the server gracefully meanwhile, so the
    /// copy is whole), for [`restore`](Self::restore) later.
    pub async fn snapshot(&mut self) {
        self.stop_gracefully();
        let copy = self.dir.with_extension("snapshot");
        let _ = std::fs::remove_dir_all(&copy);
        copy_dir(&self.dir, &copy);
        self.restart().await;
    }

    /// Kills the server and starts it again on the last [`snapshot`](Self::snapshot).
    pub async fn restore(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
        copy_dir(&self.dir.with_extension("snapshot"), &self.dir);
        self.restart().await;
    }

    /// Stops the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server with SIGTERM, letting it close its store.
    pub fn stop_gracefully(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(self.dir.with_extension("snapshot"));
    }
}

/// Copies the directory `from` to `to`, recursively.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Waits (polling, for at most 5 s) until every thread of process `pid` is stopped
/// (state `T` in `/proc/<pid>/task/*/stat`).
fn until_stopped(pid: u32) {
    let stopped = || {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return true;
        };
        tasks.flatten().all(|task| {
            std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
                // The state follows the command name, which is in parentheses.
                stat.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('T'))
            })
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !stopped() {
        assert!(
            std::time::Instant::now() < deadline,
            "nats-server {pid} did not stop"
        );
        std::thread::yield_now();
    }
}
