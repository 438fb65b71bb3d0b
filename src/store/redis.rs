//! The Redis store: one multiplexed, self-healing connection, and every call
//! bounded by the caller's budget.
//!
//! The connection is a [`ConnectionManager`]: one multiplexed connection
//! shared by every request, which reconnects by itself after an I/O error.
//! It is created lazily, so opentime starts even when Redis is down and picks
//! Redis up whenever it comes back, without a restart. While it reconnects,
//! callers do not queue behind it for longer than their budget: each call is
//! wrapped in [`tokio::time::timeout`] and gives up with
//! [`StoreError::Timeout`], whatever state Redis or the network is in.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::Topology;
use super::redis_connection::{Connection, SentinelConnection};
use redis::{Cmd, FromRedisValue, Value};

use crate::recipient::{Profile, RecipientId};

use super::StoreError;
use super::keys::KeyScheme;

/// How long one attempt to open a connection may take. Redis sits next to
/// opentime, so a connect that takes longer than this is a connect that
/// will not succeed; failing it early lets the next attempt start.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// How long a command may stay in flight on the shared connection. Callers
/// stop waiting at their budget; this bound is what frees the connection's
/// bookkeeping for commands nobody awaits any more when Redis hangs.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Attempts per reconnection round, and the backoff between them. A round
/// that fails ends with an error; the next call that sees it starts a new
/// round, so recovery never stops while there is traffic (and readiness
/// probes are traffic), yet a dead Redis is not hammered in a tight loop.
const CONNECT_RETRIES: usize = 3;
const RETRY_MIN_DELAY: Duration = Duration::from_millis(50);
const RETRY_MAX_DELAY: Duration = Duration::from_millis(500);

/// How long [`RedisStore::connect`] waits for the first connection before
/// it returns anyway, so that a healthy Redis is warm for the first request
/// and a dead one delays startup by at most this.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(1);

/// How many days report counters are kept unless `report_retention_days`
/// says otherwise: a year and a month, so a campaign compares with the
/// same one last year.
pub const DEFAULT_REPORT_DAYS: u32 = 400;

/// A handle on Redis. Clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    /// What [`RedisStore::own_connection`] opens another connection with.
    /// Behind an `Arc`: it is large, and only read when connecting.
    client: Arc<Clients>,
    pub(super) connection: Connection,
    pub(super) keys: Arc<KeyScheme>,
    pub(super) budget: Duration,
    /// How many days report counters are kept (`report_retention_days`).
    pub(super) report_days: u32,
}

impl RedisStore {
    /// Prepares the connection and tries it once for up to
    /// [`WARM_UP_TIMEOUT`]. Only a bad URL is an error: an unreachable Redis
    /// is logged and retried in the background of later calls.
    pub async fn connect(
        url: &str,
        tls_ca: Option<Vec<u8>>,
        topology: &Topology,
        keys: KeyScheme,
        budget: Duration,
    ) -> Result<RedisStore, StoreError> {
        let (client, connection) = match topology {
            Topology::Standalone => {
                let client = client_for_url(url, tls_ca)?;
                let connection = Connection::Single(lazy_connection(&client)?);
                (Clients::Single(client), connection)
            }
            Topology::Cluster => {
                let client = cluster_client(url, tls_ca)?;
                let connection = Connection::Cluster(cluster_connection(&client));
                (Clients::Cluster(client), connection)
            }
            Topology::Sentinel { master } => {
                if tls_ca.is_some() {
                    return Err(StoreError::Config(
                        "redis_ca_file is not supported with redis_mode = \"sentinel\" yet: \
                         use certificates the system or Mozilla's roots trust"
                            .into(),
                    ));
                }
                let sentinel = sentinel_client(url, master)?;
                let connection = SentinelConnection::connect(sentinel, |client| {
                    ConnectionManager::new_lazy_with_config(client, manager_config())
                })
                .await;
                (Clients::Sentinel, Connection::Sentinel(connection))
            }
        };
        let store = RedisStore {
            client: Arc::new(client),
            connection,
            keys: Arc::new(keys),
            budget,
            report_days: DEFAULT_REPORT_DAYS,
        };
        if let Err(error) = store.with_budget(WARM_UP_TIMEOUT).ping().await {
            tracing::warn!(%error, "Redis is not reachable yet; serving default variants until it is");
        }
        Ok(store)
    }

    /// The same store on a connection of its own, opened lazily like the
    /// first: for the events writer, whose large pipelines would otherwise
    /// hold up the requests' small ones on the shared connection.
    pub fn own_connection(&self) -> Result<RedisStore, StoreError> {
        let connection = match (&*self.client, &self.connection) {
            (Clients::Single(client), _) => Connection::Single(lazy_connection(client)?),
            (Clients::Cluster(client), _) => Connection::Cluster(cluster_connection(client)),
            (Clients::Sentinel, Connection::Sentinel(sentinel)) => {
                Connection::Sentinel(sentinel.own_connection())
            }
            (Clients::Sentinel, other) => other.clone(),
        };
        Ok(RedisStore {
            connection,
            ..self.clone()
        })
    }

    /// The same store, keeping report counters for `days` days.
    pub fn with_report_days(mut self, days: u32) -> RedisStore {
        self.report_days = days;
        self
    }

    /// The same connection with another budget (admin writes, probes).
    pub fn with_budget(&self, budget: Duration) -> RedisStore {
        RedisStore {
            budget,
            ..self.clone()
        }
    }

    pub fn budget(&self) -> Duration {
        self.budget
    }

    pub fn keys(&self) -> &KeyScheme {
        &self.keys
    }

    /// One `HGETALL`: the whole profile in one round trip.
    pub async fn profile(&self, recipient: &RecipientId) -> Result<Option<Profile>, StoreError> {
        let mut command = redis::cmd("HGETALL");
        command.arg(self.keys.profile_key(recipient));
        let reply: Value = self.run_idempotent(&command).await?;
        profile_from_reply(reply)
    }

    /// `HSET` of every field at once; no fields is a no-op (Redis would
    /// refuse an `HSET` without any).
    pub async fn set_fields(
        &self,
        recipient: &RecipientId,
        fields: &[(String, String)],
    ) -> Result<(), StoreError> {
        if fields.is_empty() {
            return Ok(());
        }
        let mut command = redis::cmd("HSET");
        command.arg(self.keys.profile_key(recipient));
        for (name, value) in fields {
            command.arg(name).arg(value);
        }
        self.run_idempotent(&command).await
    }

    /// One pipeline of `HSET`s and `HDEL`s for a batch of upserts, each
    /// row's refusal reported on its own rather than failing the batch.
    pub async fn upsert_profiles(
        &self,
        rows: &[super::ProfileUpsert],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        let mut sent = Vec::with_capacity(rows.len());
        for row in rows {
            let key = self.keys.profile_key(&row.recipient);
            let mut commands = 0;
            if !row.set.is_empty() {
                let command = pipe.cmd("HSET").arg(&key);
                for (name, value) in &row.set {
                    command.arg(name).arg(value);
                }
                commands += 1;
            }
            if !row.remove.is_empty() {
                pipe.cmd("HDEL").arg(&key).arg(&row.remove);
                commands += 1;
            }
            sent.push(commands);
        }
        if sent.iter().all(|&commands| commands == 0) {
            return Ok(vec![None; rows.len()]);
        }
        // Merging a field twice leaves what merging once does.
        let replies: Vec<Value> = self.run_pipeline(&pipe, true).await?;
        super::error::server_was_not_ready(&replies)?;
        let mut replies = replies.into_iter();
        Ok(sent
            .into_iter()
            .map(|commands| {
                let mut refusal = None;
                for reply in replies.by_ref().take(commands) {
                    if let Value::ServerError(error) = reply {
                        refusal.get_or_insert_with(|| error.to_string());
                    }
                }
                refusal
            })
            .collect())
    }

    /// `DEL` of the profile hash; true when there was one.
    pub async fn delete_profile(&self, recipient: &RecipientId) -> Result<bool, StoreError> {
        let mut command = redis::cmd("DEL");
        command.arg(self.keys.profile_key(recipient));
        let removed: i64 = self.run_idempotent(&command).await?;
        Ok(removed > 0)
    }

    /// When the recipient's evergreen timer of `template` started: with
    /// `start`, one `SET key now NX GET EX keep`, which records `now` if
    /// there is no start yet and answers the start that was there, in one
    /// round trip and without a race between two first opens; without it,
    /// a `GET`.
    pub async fn timer_start(
        &self,
        recipient: &RecipientId,
        template: &str,
        now: Timestamp,
        start: bool,
        keep: Duration,
    ) -> Result<Option<Timestamp>, StoreError> {
        let key = self.keys.timer_key(recipient, template);
        let previous: Option<String> = if start {
            let mut command = redis::cmd("SET");
            command
                .arg(&key)
                .arg(now.to_string())
                .arg("NX")
                .arg("GET")
                .arg("EX")
                .arg(keep.as_secs().max(1));
            self.run_idempotent(&command).await?
        } else {
            let mut command = redis::cmd("GET");
            command.arg(&key);
            self.run_idempotent(&command).await?
        };
        Ok(match previous {
            // A start that does not parse was not written by us; the open
            // that finds it starts nothing and counts from now.
            Some(text) => text.parse().ok(),
            None => start.then_some(now),
        })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let _pong: String = self.run_idempotent(&redis::cmd("PING")).await?;
        Ok(())
    }

    /// Runs a script once within the budget (`EVALSHA`, loading it when
    /// Redis does not know it yet). Scripts here change state, so a dropped
    /// connection is not retried.
    pub(super) async fn run_script<T: FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        let run = invocation.invoke_async::<T>(&mut connection);
        match tokio::time::timeout(self.budget, run).await {
            Ok(result) => result.map_err(StoreError::from),
            Err(_elapsed) => {
                self.connection.after_timeout();
                Err(StoreError::Timeout(self.budget))
            }
        }
    }

    /// Sends `command` within the budget, and sends it once more if the
    /// shared connection turns out to have died since the last call (Redis
    /// restarted, a proxy closed it while idle): the manager has started a
    /// new connection by then, and waiting for it within the budget beats
    /// failing the one request that found out. Only commands that are safe
    /// to repeat may come here, since the first one may have run.
    pub(super) async fn run_idempotent<T: FromRedisValue>(
        &self,
        command: &Cmd,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        let attempts = async {
            match command.query_async(&mut connection).await {
                Err(error) if error.is_connection_dropped() => {
                    command.query_async(&mut connection).await
                }
                result => result,
            }
        };
        match tokio::time::timeout(self.budget, attempts).await {
            Ok(result) => result.map_err(StoreError::from),
            Err(_elapsed) => {
                self.connection.after_timeout();
                Err(StoreError::Timeout(self.budget))
            }
        }
    }
}

impl fmt::Debug for RedisStore {
    // Written by hand because the connection's own `Debug` prints the
    // connection info, password included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("key_prefix", &self.keys.prefix())
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// A connection that opens on first use and reconnects by itself.
/// What another connection is opened from.
#[expect(
    clippy::large_enum_variant,
    reason = "one per store, behind an Arc, read only when connecting"
)]
enum Clients {
    Single(redis::Client),
    Cluster(redis::cluster::ClusterClient),
    /// A Sentinel connection opens others itself.
    Sentinel,
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(CONNECT_RETRIES)
        .set_min_delay(RETRY_MIN_DELAY)
        .set_max_delay(RETRY_MAX_DELAY)
}

fn lazy_connection(client: &redis::Client) -> Result<ConnectionManager, StoreError> {
    ConnectionManager::new_lazy_with_config(client.clone(), manager_config()).map_err(|error| {
        StoreError::Config(format!("cannot prepare the Redis connection: {error}"))
    })
}

/// The URLs of a comma-separated list, each checked like a standalone one.
fn node_urls(urls: &str, tls_ca: &Option<Vec<u8>>) -> Result<Vec<String>, StoreError> {
    let urls: Vec<String> = urls
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_string)
        .collect();
    if urls.is_empty() {
        return Err(StoreError::Config("the Redis URL lists no node".into()));
    }
    for url in &urls {
        client_for_url(url, tls_ca.clone())?;
    }
    Ok(urls)
}

/// A Cluster client from the seed nodes of `urls`; the rest of the
/// cluster is learnt from them.
fn cluster_client(
    urls: &str,
    tls_ca: Option<Vec<u8>>,
) -> Result<redis::cluster::ClusterClient, StoreError> {
    let urls = node_urls(urls, &tls_ca)?;
    if urls
        .iter()
        .any(|url| !url.starts_with("redis://") && !url.starts_with("rediss://"))
    {
        return Err(StoreError::Config(
            "Cluster nodes are redis:// or rediss:// URLs".into(),
        ));
    }
    let mut builder = redis::cluster::ClusterClientBuilder::new(urls)
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        .retries(CONNECT_RETRIES as u32);
    if let Some(root_cert) = tls_ca {
        builder = builder.certs(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root_cert),
        });
    }
    builder
        .build()
        .map_err(|error| StoreError::Config(format!("the Redis Cluster URLs are invalid: {error}")))
}

/// A connection that finds the cluster's nodes in the background.
fn cluster_connection(
    client: &redis::cluster::ClusterClient,
) -> redis::cluster_async::ClusterConnection {
    client.get_pending_async_connection_with_config(
        redis::cluster::ClusterConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT),
    )
}

/// A Sentinel client from the sentinels of `urls`, for the primary named
/// `master`; the primary is reached with the first URL's credentials and
/// TLS mode.
fn sentinel_client(
    urls: &str,
    master: &str,
) -> Result<redis::sentinel::SentinelClient, StoreError> {
    use redis::IntoConnectionInfo;
    let urls = node_urls(urls, &None)?;
    let first = urls[0]
        .as_str()
        .into_connection_info()
        .map_err(|error| StoreError::Config(format!("the sentinel URL is invalid: {error}")))?;
    let mut node = redis::sentinel::SentinelNodeConnectionInfo::default()
        .set_redis_connection_info(first.redis_settings().clone());
    if urls[0].starts_with("rediss://") {
        node = node.set_tls_mode(redis::TlsMode::Secure);
    }
    redis::sentinel::SentinelClient::build(
        urls,
        master,
        Some(node),
        redis::sentinel::SentinelServerType::Master,
    )
    .map_err(|error| StoreError::Config(format!("the sentinel URLs are invalid: {error}")))
}

/// Checks the scheme ourselves so that the error says what is supported;
/// neither message repeats the URL, which may hold a password. `rediss://`
/// trusts the system's and Mozilla's certificate authorities, or only
/// `tls_ca` (PEM) when given.
fn client_for_url(url: &str, tls_ca: Option<Vec<u8>>) -> Result<redis::Client, StoreError> {
    let invalid =
        |error: redis::RedisError| StoreError::Config(format!("the Redis URL is invalid: {error}"));
    match url.split_once("://").map(|(scheme, _)| scheme) {
        Some("redis" | "redis+unix" | "unix") if tls_ca.is_some() => Err(StoreError::Config(
            "a Redis CA file is set but the URL is not rediss://".into(),
        )),
        Some("redis" | "redis+unix" | "unix") => redis::Client::open(url).map_err(invalid),
        Some("rediss") => match tls_ca {
            Some(root_cert) => {
                let certificates = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                };
                redis::Client::build_with_tls(url, certificates).map_err(invalid)
            }
            None => redis::Client::open(url).map_err(invalid),
        },
        _ => Err(StoreError::Config(
            "the Redis URL must start with redis://, rediss:// or redis+unix://".into(),
        )),
    }
}

/// Turns an `HGETALL` reply into a profile: a flat array of name, value, ...
/// under RESP2, a map under RESP3, and empty when the key does not exist.
pub(super) fn profile_from_reply(reply: Value) -> Result<Option<Profile>, StoreError> {
    let mut profile = Profile::default();
    match reply {
        Value::Array(items) => {
            let mut items = items.into_iter();
            while let Some(name) = items.next() {
                let value = items.next().ok_or_else(|| {
                    StoreError::Command("HGETALL replied with an odd number of items".into())
                })?;
                profile.fields.insert(text_of(name)?, text_of(value)?);
            }
        }
        Value::Map(pairs) => {
            for (name, value) in pairs {
                profile.fields.insert(text_of(name)?, text_of(value)?);
            }
        }
        _ => {
            return Err(StoreError::Command(
                "HGETALL replied with neither an array nor a map".into(),
            ));
        }
    }
    Ok((!profile.is_empty()).then_some(profile))
}

/// The text of one reply item. Bytes that are not UTF-8 are replaced rather
/// than refused: one odd field must not cost the recipient every other field,
/// and the common, valid case reuses the reply's buffer without a copy.
pub(super) fn text_of(item: Value) -> Result<String, StoreError> {
    match item {
        Value::BulkString(bytes) => Ok(String::from_utf8(bytes)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())),
        Value::SimpleString(text) => Ok(text),
        Value::VerbatimString { text, .. } => Ok(text),
        _ => Err(StoreError::Command(
            "HGETALL replied with a non-string item".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &[u8]) -> Value {
        Value::BulkString(text.to_vec())
    }

    #[test]
    fn resp2_and_resp3_replies_give_the_same_profile() {
        let expected = Profile::from_iter([("first_name", "Alice"), ("plan", "pro")]);
        let resp2 = Value::Array(vec![
            bulk(b"first_name"),
            bulk(b"Alice"),
            bulk(b"plan"),
            bulk(b"pro"),
        ]);
        let resp3 = Value::Map(vec![
            (bulk(b"plan"), bulk(b"pro")),
            (bulk(b"first_name"), bulk(b"Alice")),
        ]);
        assert_eq!(
            profile_from_reply(resp2).expect("valid reply"),
            Some(expected.clone())
        );
        assert_eq!(
            profile_from_reply(resp3).expect("valid reply"),
            Some(expected)
        );
    }

    #[test]
    fn an_empty_reply_is_no_profile() {
        assert_eq!(
            profile_from_reply(Value::Array(vec![])).expect("valid reply"),
            None
        );
        assert_eq!(
            profile_from_reply(Value::Map(vec![])).expect("valid reply"),
            None
        );
    }

    #[test]
    fn malformed_replies_are_command_errors() {
        let odd = Value::Array(vec![bulk(b"first_name")]);
        assert!(matches!(
            profile_from_reply(odd),
            Err(StoreError::Command(_))
        ));
        assert!(matches!(
            profile_from_reply(Value::Int(3)),
            Err(StoreError::Command(_))
        ));
        let nested = Value::Array(vec![bulk(b"a"), Value::Array(vec![])]);
        assert!(matches!(
            profile_from_reply(nested),
            Err(StoreError::Command(_))
        ));
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let reply = Value::Array(vec![
            bulk(b"name"),
            bulk(b"Al\xffce"),
            bulk(b"plan"),
            bulk(b"pro"),
        ]);
        let profile = profile_from_reply(reply)
            .expect("valid reply")
            .expect("has fields");
        assert_eq!(profile.get("name"), Some("Al\u{fffd}ce"));
        assert_eq!(profile.get("plan"), Some("pro"));
    }

    #[test]
    fn urls_are_checked_without_being_echoed() {
        for good in [
            "redis://127.0.0.1:6379",
            "redis+unix:///run/redis.sock",
            "unix:///run/redis.sock",
            "rediss://:secret@host:6380",
        ] {
            assert!(client_for_url(good, None).is_ok(), "{good}");
        }
        for bad in ["http://secret@host", "secret-password"] {
            let error = client_for_url(bad, None).expect_err("refused");
            assert!(matches!(error, StoreError::Config(_)));
            assert!(!error.to_string().contains("secret"), "{error}");
        }
        let ca_without_tls = client_for_url("redis://127.0.0.1:6379", Some(b"pem".to_vec()));
        assert!(matches!(ca_without_tls, Err(StoreError::Config(_))));
    }
}
