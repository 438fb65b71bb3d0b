//! Helpers shared by the integration tests: a private `redis-server` per test
//! and a polling helper for things that become true "soon".
//!
//! Each [`RedisServer`] runs its own `redis-server` on a unix socket inside a
//! temporary directory, with no TCP port and no persistence, so tests never
//! touch the machine's Redis on 6379, never see each other's keys, and can
//! stop, hang and restart their server to exercise failure paths. The tests
//! need a real Redis: when `redis-server` is missing they fail loudly rather
//! than skip, so a green run always means the Redis paths were exercised.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod mmdb;
pub mod server;
pub mod topology;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a fresh `redis-server` may take to answer PING. Generous: a
/// loaded CI machine can be slow to fork, and waiting costs nothing when it
/// is fast.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` owned by one test; killed when dropped.
pub struct RedisServer {
    dir: TempDir,
    socket: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server and waits until it answers PING.
    pub fn new() -> RedisServer {
        let mut server = RedisServer::not_started();
        server.start();
        server
    }

    /// Prepares the directory and socket path without starting the server,
    /// for tests of what happens while Redis is down.
    pub fn not_started() -> RedisServer {
        // A unix socket path must fit in about 100 bytes, which a deep
        // TMPDIR can exceed; /tmp always fits.
        let mut dir = tempfile::Builder::new()
            .prefix("ot-redis")
            .tempdir()
            .expect("create a temporary directory for redis-server");
        if dir.path().as_os_str().len() > 80 {
            dir = tempfile::Builder::new()
                .prefix("ot-redis")
                .tempdir_in("/tmp")
                .expect("create a temporary directory for redis-server in /tmp");
        }
        let socket = dir.path().join("redis.sock");
        RedisServer {
            dir,
            socket,
            child: None,
        }
    }

    /// A `redis+unix://` URL for opentime's store.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the server on this server's socket path and waits until it
    /// answers PING. Panics if it is already running.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let log = self.dir.path().join("redis.log");
        let spawned = Command::new("redis-server")
            .arg("--port")
            .arg("0")
            .arg("--unixsocket")
            .arg(&self.socket)
            .arg("--unixsocketperm")
            .arg("700")
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) if error.kind() == ErrorKind::NotFound => {
                panic!("redis-server not found: install it with apt-get install redis-server")
            }
            Err(error) => panic!("cannot start redis-server: {error}"),
        };
        self.child = Some(child);
        self.wait_until_ready(&log);
    }

    /// Kills the server (as a crash would) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error here means it had already exited, which is what we want.
            let _ = child.kill();
            let _ = child.wait();
        }
        // A killed server leaves its socket file behind; removing it makes
        // "down" look the same whether or not Redis cleaned up.
        let _ = std::fs::remove_file(&self.socket);
    }

    /// Stops the server and starts a fresh one on the same socket path. The
    /// data is gone: the server keeps nothing on disk.
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing
    /// answers, the worst case for a client.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a server frozen by [`RedisServer::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// A client for the test's own checks, independent of opentime's store.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("the socket URL is valid")
    }

    /// A fresh synchronous connection to the server.
    pub fn connection(&self) -> redis::Connection {
        self.client()
            .get_connection_with_timeout(Duration::from_secs(2))
            .expect("connect to the test redis-server")
    }

    /// Makes the server refuse every write with NOREPLICAS (as it refuses
    /// them with LOADING after a restart), or take them again.
    pub fn refuse_writes(&self, refuse: bool) {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("min-replicas-to-write")
            .arg(if refuse { "1" } else { "0" })
            .query::<()>(&mut self.connection())
            .expect("CONFIG SET min-replicas-to-write");
    }

    /// `HSET key field value`, as a customer's systems would write state.
    pub fn hset(&self, key: &str, field: &str, value: &str) {
        redis::cmd("HSET")
            .arg(key)
            .arg(field)
            .arg(value)
            .exec(&mut self.connection())
            .expect("HSET on the test redis-server");
    }

    /// `HGETALL key`.
    pub fn hgetall(&self, key: &str) -> BTreeMap<String, String> {
        redis::cmd("HGETALL")
            .arg(key)
            .query(&mut self.connection())
            .expect("HGETALL on the test redis-server")
    }

    /// The events stream `ot:events`, each entry's `event` JSON decoded.
    pub fn events(&self) -> Vec<BTreeMap<String, String>> {
        let reply: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg("ot:events")
            .arg("-")
            .arg("+")
            .query(&mut self.connection())
            .expect("XRANGE");
        // Each entry is one field, `event`, holding a JSON object of strings.
        reply
            .into_iter()
            .map(|(id, flat)| {
                assert_eq!(flat.len(), 2, "entry {id}: one field");
                assert_eq!(flat[0], "event", "entry {id}");
                serde_json::from_str(&flat[1])
                    .unwrap_or_else(|error| panic!("entry {id}: {error}: {}", flat[1]))
            })
            .collect()
    }

    /// Every key on the server, sorted, to check key layouts exactly.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query(&mut self.connection())
            .expect("KEYS on the test redis-server");
        keys.sort();
        keys
    }

    fn wait_until_ready(&mut self, log: &Path) {
        let client = self.client();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let child = self.child.as_mut().expect("started just before");
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                panic!(
                    "redis-server exited ({status}) before answering PING; its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            let answered = client
                .get_connection_with_timeout(Duration::from_millis(200))
                .and_then(|mut connection| redis::cmd("PING").query::<String>(&mut connection));
            if answered.is_ok() {
                return;
            }
            if Instant::now() > deadline {
                self.stop();
                panic!(
                    "redis-server did not answer PING within {READY_TIMEOUT:?}; its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("redis-server is running");
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill {signal} failed");
    }
}

impl Default for RedisServer {
    fn default() -> RedisServer {
        RedisServer::new()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL also ends a paused server, so no test leaks a process.
        self.stop();
    }
}

/// Polls `attempt` until it returns `Some`, for up to `within`, and returns
/// the value; panics naming `what` when time runs out. The pause between
/// attempts only paces the polling: nothing here asserts how long it took.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{what}: not true within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
