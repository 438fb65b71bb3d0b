//! The three ways to reach Redis, behind one connection type: a standalone
//! server, a Sentinel-managed primary, or a Cluster.
//!
//! - **Standalone**: a [`ConnectionManager`], one multiplexed connection
//!   that reconnects by itself.
//! - **Sentinel**: the same, to whichever server the sentinels name as the
//!   primary. A command that fails as a failover makes it fail (the
//!   connection drops, or the old primary, now a replica, refuses a write)
//!   asks the sentinels again, at most twice a second, and swaps in a
//!   connection to the primary they name.
//! - **Cluster**: the redis crate's cluster connection, which follows the
//!   slot map, `MOVED` and `ASK` by itself. A pipeline must stay on one
//!   slot there, so [`Connection::query_pipeline`] splits one that spans
//!   several by hash tag, sends the parts at once, and answers in the
//!   order of the commands. Transactions and scripts are single-slot by
//!   design: every key of a recipient shares their hash tag, and so do the
//!   keys of a poll and of the stored templates.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::SentinelClient;
use redis::{Cmd, FromRedisValue, Pipeline, RedisError, RedisFuture, RedisResult, Value};

/// How often a Sentinel connection may ask the sentinels for the primary.
const SENTINEL_ASK_EVERY: Duration = Duration::from_millis(500);

/// A connection to Redis, whichever its topology. Clones share it.
#[derive(Clone)]
pub enum Connection {
    Single(ConnectionManager),
    Sentinel(SentinelConnection),
    Cluster(ClusterConnection),
}

impl Connection {
    /// Sends a pipeline. On a Cluster, one whose commands span several
    /// hash tags runs as one pipeline per tag, all at once; the replies are
    /// put back in the order of the commands (errors as `ServerError`
    /// values, which the caller reads like those of `ignore_errors`). Such a
    /// pipeline must not `ignore` a command.
    pub async fn query_pipeline<T: FromRedisValue>(&mut self, pipe: &Pipeline) -> RedisResult<T> {
        match self {
            Connection::Cluster(cluster) if !pipe.is_transaction() && spans_tags(pipe) => {
                let replies = split_by_tag(cluster, pipe).await?;
                T::from_redis_value(Value::Array(replies)).map_err(RedisError::from)
            }
            _ => pipe.query_async(self).await,
        }
    }
}

impl Connection {
    /// Tells the connection that a caller stopped waiting for it.
    pub fn after_timeout(&self) {
        if let Connection::Sentinel(sentinel) = self {
            sentinel.after_timeout();
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(connection) => connection.req_packed_command(cmd),
            Connection::Sentinel(connection) => connection.req_packed_command(cmd),
            Connection::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
            Connection::Sentinel(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
            Connection::Cluster(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(connection) => connection.get_db(),
            Connection::Sentinel(connection) => connection.get_db(),
            Connection::Cluster(connection) => connection.get_db(),
        }
    }
}

/// The hash tag of a key (what Redis Cluster hashes), or the whole key.
fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{')
        && let Some(length) = key[open + 1..].iter().position(|&b| b == b'}')
        && length > 0
    {
        return &key[open + 1..open + 1 + length];
    }
    key
}

/// The key a command acts on: its first argument, for every command
/// opentime pipelines.
fn key_of(cmd: &Cmd) -> Vec<u8> {
    match cmd.args_iter().nth(1) {
        Some(redis::Arg::Simple(key)) => hash_tag(key).to_vec(),
        _ => Vec::new(),
    }
}

/// Whether a pipeline's commands are on more than one hash tag. One on a
/// single tag is sent as it is, `ignore`d commands and all.
fn spans_tags(pipe: &Pipeline) -> bool {
    let mut tags = pipe.cmd_iter().map(key_of);
    match tags.next() {
        Some(first) => tags.any(|tag| tag != first),
        None => false,
    }
}

/// Runs the parts of a pipeline that spans several tags, one pipeline per
/// tag, all at once. Such pipelines carry no `ignore`d command: every
/// reply goes back in its command's place.
async fn split_by_tag(cluster: &ClusterConnection, pipe: &Pipeline) -> RedisResult<Vec<Value>> {
    let mut groups: Vec<(Vec<u8>, Pipeline, Vec<usize>)> = Vec::new();
    for (index, cmd) in pipe.cmd_iter().enumerate() {
        let tag = key_of(cmd);
        let group = match groups.iter().position(|(other, _, _)| *other == tag) {
            Some(position) => &mut groups[position],
            None => {
                let mut part = redis::pipe();
                part.ignore_errors();
                groups.push((tag, part, Vec::new()));
                groups.last_mut().expect("just pushed")
            }
        };
        group.1.add_command(cmd.clone());
        group.2.push(index);
    }
    let total = pipe.len();
    let mut parts = tokio::task::JoinSet::new();
    for (_, part, indexes) in groups {
        let mut connection = cluster.clone();
        parts.spawn(async move {
            let replies: RedisResult<Vec<Value>> = part.query_async(&mut connection).await;
            (indexes, replies)
        });
    }
    let mut replies = vec![Value::Nil; total];
    while let Some(joined) = parts.join_next().await {
        let (indexes, part) = joined.map_err(|error| {
            RedisError::from((
                redis::ErrorKind::Io,
                "a pipeline part ended abnormally",
                error.to_string(),
            ))
        })?;
        for (index, reply) in indexes.into_iter().zip(part?) {
            replies[index] = reply;
        }
    }
    Ok(replies)
}

/// The primary the sentinels named, and the connection to it.
struct Primary {
    client: redis::Client,
    manager: ConnectionManager,
}

/// A connection to the primary the sentinels name, renewed when a
/// failover shows.
#[derive(Clone)]
pub struct SentinelConnection {
    /// `None` until the sentinels first name a primary.
    current: Arc<ArcSwapOption<Primary>>,
    sentinel: Arc<tokio::sync::Mutex<SentinelClient>>,
    make: Arc<dyn Fn(redis::Client) -> RedisResult<ConnectionManager> + Send + Sync>,
    asked_at: Arc<std::sync::Mutex<Option<Instant>>>,
    asking: Arc<AtomicBool>,
}

impl SentinelConnection {
    /// Prepares a connection to the primary the sentinels name, made with
    /// `make` (lazy, like a standalone one). Sentinels that do not answer
    /// yet are asked again at the first command.
    pub async fn connect(
        sentinel: SentinelClient,
        make: impl Fn(redis::Client) -> RedisResult<ConnectionManager> + Send + Sync + 'static,
    ) -> SentinelConnection {
        let connection = SentinelConnection {
            current: Arc::new(ArcSwapOption::empty()),
            sentinel: Arc::new(tokio::sync::Mutex::new(sentinel)),
            make: Arc::new(make),
            asked_at: Arc::new(std::sync::Mutex::new(None)),
            asking: Arc::new(AtomicBool::new(false)),
        };
        connection.ask().await;
        connection
    }

    /// Another connection to the same primary, renewed on its own.
    pub fn own_connection(&self) -> SentinelConnection {
        let own = self.current.load_full().and_then(|primary| {
            let manager = (self.make)(primary.client.clone()).ok()?;
            Some(Arc::new(Primary {
                client: primary.client.clone(),
                manager,
            }))
        });
        SentinelConnection {
            current: Arc::new(ArcSwapOption::new(own)),
            asked_at: Arc::new(std::sync::Mutex::new(None)),
            asking: Arc::new(AtomicBool::new(false)),
            ..self.clone()
        }
    }

    /// Asks the sentinels for the primary and swaps in a connection to it.
    async fn ask(&self) {
        let asked = tokio::time::timeout(Duration::from_secs(2), async {
            let mut sentinel = self.sentinel.lock().await;
            sentinel.async_get_client().await
        })
        .await;
        match asked {
            Ok(Ok(client)) => match (self.make)(client.clone()) {
                Ok(manager) => self
                    .current
                    .store(Some(Arc::new(Primary { client, manager }))),
                Err(error) => tracing::warn!(%error, "cannot prepare a connection to the primary"),
            },
            Ok(Err(error)) => {
                tracing::warn!(%error, "the sentinels name no primary yet; serving default variants");
            }
            Err(_) => tracing::warn!("the sentinels did not answer within 2 s"),
        }
    }

    /// The connection to the primary, or an error (which asks the
    /// sentinels) while none is known.
    fn primary(&self) -> RedisResult<ConnectionManager> {
        match self.current.load_full() {
            Some(primary) => Ok(primary.manager.clone()),
            None => {
                let error = RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the sentinels have named no primary yet",
                ));
                self.after_error(&error);
                Err(error)
            }
        }
    }

    /// A caller gave up waiting (its budget is shorter than the
    /// connection's own response timeout): a primary that hangs shows only
    /// this way, so ask the sentinels too.
    pub fn after_timeout(&self) {
        self.after_error(&RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "a command ran over its budget",
        )));
    }

    /// After an error that a failover causes, asks the sentinels again in
    /// the background (at most every [`SENTINEL_ASK_EVERY`]).
    fn after_error(&self, error: &RedisError) {
        let failover = error.is_io_error()
            || error.is_connection_dropped()
            || error.is_unrecoverable_error()
            || error.is_timeout()
            || matches!(
                error.kind(),
                redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
            );
        if !failover {
            return;
        }
        {
            let mut asked_at = self
                .asked_at
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if asked_at.is_some_and(|at| at.elapsed() < SENTINEL_ASK_EVERY) {
                return;
            }
            *asked_at = Some(Instant::now());
        }
        if self.asking.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            this.ask().await;
            this.asking.store(false, Ordering::Release);
        });
    }
}

impl ConnectionLike for SentinelConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut connection = self.primary()?;
            let result = connection.req_packed_command(cmd).await;
            if let Err(error) = &result {
                self.after_error(error);
            }
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut connection = self.primary()?;
            let result = connection
                .req_packed_commands(pipeline, offset, count)
                .await;
            if let Err(error) = &result {
                self.after_error(error);
            }
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.current
            .load()
            .as_ref()
            .map_or(0, |primary| primary.manager.get_db())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_group_by_their_hash_tag() {
        assert_eq!(hash_tag(b"ot:r:{alice}:shown"), b"alice");
        assert_eq!(hash_tag(b"ot:r:{alice}"), b"alice");
        assert_eq!(hash_tag(b"ot:events"), b"ot:events");
        assert_eq!(hash_tag(b"ot:{}x"), b"ot:{}x", "an empty tag is no tag");
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg("ot:r:{bob}");
        assert_eq!(key_of(&cmd), b"bob");
    }
}
