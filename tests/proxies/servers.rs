//! nginx, Caddy and HAProxy of the tests' own: each started in the foreground on a free
//! loopback port, with a configuration written to a temporary directory, in front of
//! an app on `upstream`; killed when dropped.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// The proxies under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Nginx,
    Caddy,
    Haproxy,
}

/// Which configuration of a proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// The reverse-proxy configuration its documentation shows, with nothing for SSE.
    Plain,
    /// `Plain` with the proxy's documented compression turned on for event streams.
    PlainCompressed,
    /// The configuration the guide recommends (docs/guide.md, "Deploying").
    Recommended,
}

/// The proxies' timeouts in the tests: short, so that an idle stream outlives them
/// quickly; the app's keep-alive (500 ms) is below.
pub const TIMEOUT_SECS: u64 = 2;

impl Kind {
    pub fn program(self) -> &'static str {
        match self {
            Kind::Nginx => "nginx",
            Kind::Caddy => "caddy",
            Kind::Haproxy => "haproxy",
        }
    }

    /// Whether the proxy is installed; says so on one line when not (fails in CI).
    pub fn available(self) -> bool {
        let package = self.program();
        crate::common::have(package, &format!("apt-get install {package}"))
    }
}

/// A running proxy, killed (and its directory removed) when dropped.
pub struct ProxyServer {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

/// A loopback port nothing listens on now (TCP and UDP).
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl ProxyServer {
    /// Starts `kind` in `setup` in front of `127.0.0.1:upstream`, and returns once it
    /// accepts connections.
    pub async fn start(kind: Kind, setup: Setup, upstream: u16) -> Self {
        let port = free_port();
        let config = match kind {
            Kind::Nginx => nginx(setup, port, upstream),
            Kind::Caddy => caddy(setup, port, upstream),
            Kind::Haproxy => haproxy(setup, port, upstream),
        };
        Self::run(kind, &config, port).await
    }

    /// Starts `kind` with `config` (`{dir}` replaced by its directory), listening on
    /// `port`.
    pub async fn run(kind: Kind, config: &str, port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tower-sse-{}-{}-{port}",
            kind.program(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("proxy.conf");
        std::fs::write(&file, config.replace("{dir}", dir.to_str().unwrap())).unwrap();
        let mut command = Command::new(kind.program());
        match kind {
            Kind::Nginx => command
                .arg("-p")
                .arg(&dir)
                .arg("-e")
                .arg(dir.join("error.log"))
                .arg("-c")
                .arg(&file),
            Kind::Caddy => command
                .args(["run", "--adapter", "caddyfile", "--config"])
                .arg(&file)
                .env("HOME", &dir)
                .env("XDG_DATA_HOME", dir.join("data"))
                .env("XDG_CONFIG_HOME", dir.join("config")),
            Kind::Haproxy => command.arg("-db").arg("-f").arg(&file),
        };
        let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {} ({err})", kind.program()));
        let mut server = Self { child, dir, port };
        server.wait_until_listening(kind).await;
        server
    }

    async fn wait_until_listening(&mut self, kind: Kind) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}): {}", kind.program(), self.log());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} listening within 20 s: {}",
                kind.program(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the proxy printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }
}

impl ProxyServer {
    /// A file in the proxy's directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// nginx: `proxy_pass` alone (plain); the guide's location (recommended).
pub fn nginx(setup: Setup, port: u16, upstream: u16) -> String {
    let location = match setup {
        Setup::Plain | Setup::PlainCompressed => NGINX_PLAIN,
        Setup::Recommended => NGINX_RECOMMENDED,
    };
    let gzip = if setup == Setup::Plain {
        ""
    } else {
        "gzip on;\n    gzip_types text/event-stream;"
    };
    format!(
        "daemon off;
master_process off;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {{dir}}/body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    {gzip}
    server {{
        listen 127.0.0.1:{port};
{location}
    }}
}}
"
    )
    .replace("{upstream}", &upstream.to_string())
    .replace("{timeout}", &TIMEOUT_SECS.to_string())
}

const NGINX_PLAIN: &str = "        location / {
            proxy_pass http://127.0.0.1:{upstream};
            proxy_read_timeout {timeout}s;
        }";

/// The guide's nginx location (docs/guide.md), with the test's short read timeout.
pub const NGINX_RECOMMENDED: &str = "        location / {
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_buffering off;
            proxy_read_timeout {timeout}s;
            error_page 502 503 504 = @unavailable;
        }
        location @unavailable {
            if ($http_accept !~ \"text/event-stream\") {
                return 502;
            }
            default_type text/event-stream;
            add_header Cache-Control \"no-cache, no-transform\" always;
            return 200 \"retry: 1000\\n\\n\";
        }";

/// Caddy: `reverse_proxy` alone (plain), with `encode gzip zstd` (plain compressed),
/// the guide's site (recommended).
pub fn caddy(setup: Setup, port: u16, upstream: u16) -> String {
    let site = match setup {
        Setup::Plain => {
            "    reverse_proxy 127.0.0.1:{upstream} {
        transport http {
            read_timeout {timeout}s
        }
    }"
        }
        Setup::PlainCompressed => {
            "    encode gzip zstd
    reverse_proxy 127.0.0.1:{upstream} {
        transport http {
            read_timeout {timeout}s
        }
    }"
        }
        Setup::Recommended => CADDY_RECOMMENDED,
    };
    format!(
        "{{
    admin off
    auto_https off
}}
http://127.0.0.1:{port} {{
    bind 127.0.0.1
{site}
}}
"
    )
    .replace("{upstream}", &upstream.to_string())
    .replace("{timeout}", &TIMEOUT_SECS.to_string())
}

/// The guide's Caddy site body (docs/guide.md), with the test's short read timeout.
pub const CADDY_RECOMMENDED: &str = "    @notsse not header Accept *text/event-stream*
    encode @notsse gzip zstd
    reverse_proxy 127.0.0.1:{upstream} {
        lb_try_duration 10s
        transport http {
            read_timeout {timeout}s
        }
    }";

/// HAProxy: a frontend and a backend (plain), with `compression` (plain compressed), the
/// guide's backend (recommended).
pub fn haproxy(setup: Setup, port: u16, upstream: u16) -> String {
    let backend = match setup {
        Setup::Plain => "    server app 127.0.0.1:{upstream}",
        Setup::PlainCompressed => {
            "    compression algo gzip
    compression type text/event-stream text/html
    server app 127.0.0.1:{upstream}"
        }
        Setup::Recommended => HAPROXY_RECOMMENDED,
    };
    format!(
        "defaults
    mode http
    timeout connect 5s
    timeout client {{timeout}}s
    timeout server {{timeout}}s
frontend web
    bind 127.0.0.1:{port}
    default_backend app
backend app
{backend}
"
    )
    .replace("{upstream}", &upstream.to_string())
    .replace("{timeout}", &TIMEOUT_SECS.to_string())
}

/// The guide's HAProxy backend (docs/guide.md).
pub const HAPROXY_RECOMMENDED: &str = "    option http-no-delay
    retries 10
    compression algo gzip
    compression type text/html
    server app 127.0.0.1:{upstream}";
