//! Headless Chromium for the tests: started on a URL with a fresh profile, killed when
//! dropped.

use std::process::{Child, Command, Stdio};

/// Kills the browser when the test ends, however it ends.
pub struct Browser(Child, std::path::PathBuf);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn binary() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// Whether Chromium can run here (`CHROMIUM` names another browser); says so on one line
/// when it cannot.
pub fn have_chromium() -> bool {
    super::have(&binary(), "apt-get install chromium, or set CHROMIUM")
}

/// Starts headless Chromium on `url`, over TCP only (QUIC off).
pub fn launch(url: &str) -> Browser {
    launch_with(url, &["--disable-quic".to_owned()])
}

/// Starts headless Chromium on `url` with `extra` flags, with a fresh profile of its own
/// (tests run in parallel, each with its browser).
pub fn launch_with(url: &str, extra: &[String]) -> Browser {
    static LAUNCHED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let binary = binary();
    let n = LAUNCHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let profile =
        std::env::temp_dir().join(format!("tower-sse-chromium-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).unwrap();
    let child = Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
        ])
        .args(extra)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("cannot start `{binary}` ({err}): install Debian's chromium, or set CHROMIUM")
        });
    Browser(child, profile)
}
