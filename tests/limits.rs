//! Nobody can hold the server's connections: a body trickled a byte at a
//! time is cut, one address cannot take every connection slot, and a
//! keep-alive connection is closed after its share of requests. Real
//! sockets against the real server.

use crate::support;

use std::time::{Duration, Instant};

use support::RedisServer;
use support::server::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .expect("the server accepts")
}

/// Reads until the peer closes or `within` passes.
async fn read_all(stream: &mut TcpStream, within: Duration) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(within, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_at_its_deadline() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |config| {
        config.server.body_read_timeout = Duration::from_millis(600);
    })
    .await;
    let mut stream = connect(&server).await;
    let head = format!(
        "POST /u?t={} HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 1000\r\n\r\n",
        server.token("ann")
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        for _ in 0..20 {
            if stream.write_all(b"L").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        stream
    });
    let mut stream = writer.await.unwrap();
    let answer = read_all(&mut stream, Duration::from_secs(2)).await;
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a trickled body gets 408: {answer:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut near its deadline, not after the 4 s the trickle takes"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |config| {
        config.server.max_connections_per_ip = 3;
    })
    .await;
    // Each connection asks once and stays open (keep-alive), holding its
    // place; the test client's own idle connection may hold one more.
    let mut open = Vec::new();
    let mut served = 0;
    let mut refused = 0;
    for _ in 0..6 {
        let mut stream = connect(&server).await;
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await;
        let mut buffer = [0u8; 512];
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await {
            Ok(Ok(read)) if read > 0 => served += 1,
            _ => refused += 1,
        }
        open.push(stream);
    }
    assert!(served <= 3, "at most the limit is served at once: {served}");
    assert!(refused >= 3, "the rest are closed unanswered: {refused}");
    drop(open);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        server
            .metric("opentime_connections_refused_total{reason=\"per_ip\"}")
            .await
            >= 3.0,
        "with the places given back, the address is served again, and the refusals were counted"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_connection_closes_after_its_share_of_requests() {
    let redis = RedisServer::new();
    let server = TestServer::launch(&redis, &[], |config| {
        config.server.max_requests_per_connection = 3;
    })
    .await;
    let mut stream = connect(&server).await;
    let request = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n".repeat(5);
    stream.write_all(&request).await.unwrap();
    let answer = read_all(&mut stream, Duration::from_secs(3)).await;
    assert_eq!(
        answer.matches("HTTP/1.1 200").count(),
        3,
        "three answers, then the connection closes: {answer:?}"
    );
    assert!(answer.to_ascii_lowercase().contains("connection: close"));
    server.shutdown().await;
}
