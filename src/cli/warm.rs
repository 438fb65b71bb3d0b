//! `opentime warm`: starts a cache warming job on a running server
//! (`POST /api/v1/warm`) and shows its progress until it ends.
//!
//! The list is a file of recipient ids, one a line, either bare or as
//! NDJSON objects with a `recipient` (an import file serves as is). The
//! admin token comes from `OPENTIME_ADMIN_TOKEN`, never the command line.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct WarmArgs {
    /// The server, e.g. http://opentime.internal:8080.
    #[arg(long)]
    pub server: String,
    /// The template to warm.
    #[arg(long)]
    pub template: String,
    /// 1, or 2 for retina clients.
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    /// png, jpg or gif; the template's own format by default.
    #[arg(long)]
    pub format: Option<String>,
    /// The User-Agent the rules see (device rules); none by default.
    #[arg(long)]
    pub user_agent: Option<String>,
    /// The opener the rules see: human (the default), apple_proxy, ...
    #[arg(long)]
    pub opener: Option<String>,
    /// Recipient ids, one a line (bare, or NDJSON with a "recipient"); `-`
    /// reads standard input.
    pub list: PathBuf,
    /// The admin token (a token with the `warm` scope is enough).
    #[arg(long, env = "OPENTIME_ADMIN_TOKEN", hide_env_values = true)]
    pub token: String,
}

pub fn warm(args: &WarmArgs) -> anyhow::Result<()> {
    let body = ndjson_list(&args.list)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args, body))
}

/// The list as NDJSON lines of `{"recipient": id}`.
fn ndjson_list(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let input: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        ))
    };
    let mut body = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", index + 1))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('{') {
            body.extend_from_slice(line.as_bytes());
        } else {
            serde_json::to_writer(&mut body, &serde_json::json!({ "recipient": line }))?;
        }
        body.push(b'\n');
    }
    if body.is_empty() {
        bail!("{} holds no recipients", path.display());
    }
    Ok(body)
}

async fn run(args: &WarmArgs, body: Vec<u8>) -> anyhow::Result<()> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("template", &args.template);
    query.append_pair("scale", &args.scale.to_string());
    if let Some(format) = &args.format {
        query.append_pair("format", format);
    }
    if let Some(user_agent) = &args.user_agent {
        query.append_pair("user_agent", user_agent);
    }
    if let Some(opener) = &args.opener {
        query.append_pair("opener", opener);
    }
    let server = args.server.trim_end_matches('/');
    let started = call(
        Method::POST,
        &format!("{server}/api/v1/warm?{}", query.finish()),
        &args.token,
        Bytes::from(body),
    )
    .await?;
    let job = started["job"]
        .as_str()
        .context("the server's answer names no job")?
        .to_string();
    eprintln!(
        "job {job}: {} recipients of {}",
        started["total"], args.template
    );
    let bar = std::io::stderr().is_terminal();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let progress = call(
            Method::GET,
            &format!("{server}/api/v1/warm/{job}"),
            &args.token,
            Bytes::new(),
        )
        .await?;
        let line = progress_line(&progress);
        if bar {
            eprint!("\r{line}\x1b[K");
        }
        if progress["state"] != "running" {
            if bar {
                eprintln!();
            } else {
                eprintln!("{line}");
            }
            println!("{progress}");
            std::io::stdout().flush()?;
            if progress["state"] != "done" {
                bail!("the job was {}", progress["state"]);
            }
            return Ok(());
        }
    }
}

/// `[#########-----------]  45%  4500/10000  rendered 12  cached 4488  errors 0  210/s  ETA 26s`
pub fn progress_line(progress: &Value) -> String {
    const WIDTH: u64 = 24;
    let total = progress["total"].as_u64().unwrap_or(0).max(1);
    let done = progress["done"].as_u64().unwrap_or(0).min(total);
    let filled = done * WIDTH / total;
    let eta = match progress["eta_seconds"].as_u64() {
        Some(seconds) => format!("ETA {seconds}s"),
        None => "ETA -".to_string(),
    };
    format!(
        "[{}{}] {:>3}%  {done}/{total}  rendered {}  cached {}  errors {}  {}/s  {eta}",
        "#".repeat(filled as usize),
        "-".repeat((WIDTH - filled) as usize),
        done * 100 / total,
        progress["rendered"],
        progress["cached"],
        progress["errors"],
        progress["rate"],
    )
}

/// One request to the admin API, on a connection of its own; the answer's
/// JSON, or the API's error.
async fn call(method: Method, url: &str, token: &str, body: Bytes) -> anyhow::Result<Value> {
    let uri: hyper::Uri = url
        .parse()
        .with_context(|| format!("{url:?} is not a URL"))?;
    let host = uri
        .host()
        .context("the server URL has no host")?
        .to_string();
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => bail!("the server URL is http:// or https://"),
    };
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    let path = uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_string();
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(
            HOST,
            uri.authority().map_or(host.clone(), |a| a.to_string()),
        )
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(CONTENT_TYPE, "application/x-ndjson")
        .body(Full::new(body))?;
    let (status, bytes) = if https {
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.clone())
            .context("the host is not a valid TLS name")?;
        let tls = crate::remote::client::tls_connector()
            .connect(name, tcp)
            .await
            .context("TLS")?;
        exchange(TokioIo::new(tls), request).await?
    } else {
        exchange(TokioIo::new(tcp), request).await?
    };
    let value: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("the server answered {status} without JSON"))?;
    if !status.is_success() {
        bail!(
            "{status}: {} ({})",
            value["error"]["message"].as_str().unwrap_or_default(),
            value["error"]["code"].as_str().unwrap_or_default()
        );
    }
    Ok(value)
}

async fn exchange<I>(
    io: I,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(hyper::StatusCode, Bytes)>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    driver.abort();
    Ok((status, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_shows_the_share_done_and_what_is_left() {
        let line = progress_line(&serde_json::json!({
            "total": 200, "done": 50, "rendered": 3, "cached": 47, "errors": 0,
            "rate": 25.0, "eta_seconds": 6
        }));
        assert_eq!(
            line,
            "[######------------------]  25%  50/200  rendered 3  cached 47  errors 0  25.0/s  ETA 6s"
        );
    }
}
