//! Redis beyond one server, for the integration tests: a three-master
//! Redis Cluster on loopback ports, and a Sentinel-managed primary with a
//! replica. Every process is the real `redis-server`, in a temporary
//! directory of its own, killed when the value is dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// One `redis-server` on a TCP port of 127.0.0.1.
pub struct Node {
    pub port: u16,
    child: Option<Child>,
}

impl Node {
    fn start(dir: &Path, port: u16, extra: &[&str]) -> Node {
        std::fs::create_dir_all(dir).unwrap();
        let spawned = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                panic!("redis-server not found: install it with apt-get install redis-server")
            }
            Err(error) => panic!("cannot start redis-server: {error}"),
        };
        let node = Node {
            port,
            child: Some(child),
        };
        node.wait_for_ping(dir);
        node
    }

    fn wait_for_ping(&self, dir: &Path) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cli(&["PING"]).trim() != "PONG" {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer; its log:\n{}",
                self.port,
                std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `redis-cli` against this node; its standard output.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs (apt-get install redis-tools)");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Ports no one listens on now, distinct, with their cluster bus ports
/// (port + 10000) free too.
fn free_ports(count: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    while ports.len() < count {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port < 50000
            && !ports.contains(&port)
            && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok()
        {
            ports.push(port);
        }
    }
    ports
}

/// Three masters, no replicas, every slot assigned.
pub struct RedisCluster {
    pub nodes: Vec<Node>,
    _dir: TempDir,
}

impl RedisCluster {
    pub fn new() -> RedisCluster {
        let dir = tempfile::Builder::new()
            .prefix("ot-cluster")
            .tempdir()
            .unwrap();
        let nodes: Vec<Node> = free_ports(3)
            .into_iter()
            .map(|port| {
                let node_dir = dir.path().join(port.to_string());
                Node::start(
                    &node_dir,
                    port,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &node_dir.join("nodes.conf").display().to_string(),
                        "--cluster-node-timeout",
                        "2000",
                    ],
                )
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create runs");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        for node in &nodes {
            while !node.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                assert!(Instant::now() < deadline, "the cluster did not become ok");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        RedisCluster { nodes, _dir: dir }
    }

    /// The nodes' URLs, comma-separated, as `redis_url` takes them.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(Node::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A cluster-aware connection for the test's own reads and writes.
    pub fn connection(&self) -> redis::cluster::ClusterConnection {
        redis::cluster::ClusterClient::new(self.nodes.iter().map(Node::url).collect::<Vec<_>>())
            .unwrap()
            .get_connection()
            .expect("a connection to the test cluster")
    }
}

/// A primary, its replica, and one sentinel watching them as `ot`.
pub struct RedisSentinel {
    pub primary: Node,
    pub replica: Node,
    pub sentinel: Node,
    _dir: TempDir,
}

impl RedisSentinel {
    pub const MASTER: &'static str = "ot";

    pub fn new() -> RedisSentinel {
        let dir = tempfile::Builder::new()
            .prefix("ot-sentinel")
            .tempdir()
            .unwrap();
        let ports = free_ports(3);
        let primary = Node::start(&dir.path().join("primary"), ports[0], &[]);
        let replica = Node::start(
            &dir.path().join("replica"),
            ports[1],
            &["--replicaof", "127.0.0.1", &ports[0].to_string()],
        );
        let sentinel_dir = dir.path().join("sentinel");
        std::fs::create_dir_all(&sentinel_dir).unwrap();
        let config = sentinel_dir.join("sentinel.conf");
        std::fs::write(
            &config,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\nlogfile {dir}/sentinel.log\n\
                 sentinel monitor {master} 127.0.0.1 {primary} 1\n\
                 sentinel down-after-milliseconds {master} 1000\n\
                 sentinel failover-timeout {master} 10000\n\
                 sentinel parallel-syncs {master} 1\n",
                port = ports[2],
                dir = sentinel_dir.display(),
                master = Self::MASTER,
                primary = ports[0],
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&config)
            .arg("--sentinel")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server --sentinel starts");
        let sentinel = Node {
            port: ports[2],
            child: Some(child),
        };
        sentinel.wait_for_ping(&sentinel_dir);
        // The replica has synced and the sentinel has found it.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !replica
            .cli(&["INFO", "replication"])
            .contains("master_link_status:up")
            || !sentinel
                .cli(&["SENTINEL", "REPLICAS", Self::MASTER])
                .contains(&ports[1].to_string())
        {
            assert!(Instant::now() < deadline, "the replica did not sync");
            std::thread::sleep(Duration::from_millis(50));
        }
        RedisSentinel {
            primary,
            replica,
            sentinel,
            _dir: dir,
        }
    }

    /// The port of the server the sentinel names as the primary now.
    pub fn primary_port(&self) -> u16 {
        let answer = self
            .sentinel
            .cli(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", Self::MASTER]);
        answer
            .lines()
            .nth(1)
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or(0)
    }
}
