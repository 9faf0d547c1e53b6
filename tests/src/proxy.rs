//! A small intercepting HTTP proxy in front of moto, for the failures moto cannot produce by
//! itself at the right moment: a service that refuses one write (Secrets Manager refusing
//! `PutSecretValue` after the new key was created), or another actor winning a race (a second
//! `CreateAccessKey` for the same user landing just before keywarden's).
//!
//! The function is pointed at it for one service only, with the SDK's standard
//! service-specific endpoint variable (`AWS_ENDPOINT_URL_IAM`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`); every other service still goes straight to moto.
//! Each request is read whole (the SDK sends a `Content-Length`), shown to a rule that
//! decides what happens to it, and, unless the rule answers it, forwarded to moto on a new
//! connection. Every connection carries one request (`Connection: close` both ways), which
//! keeps the proxy trivial and costs nothing on 127.0.0.1. Signatures stay valid: the bytes
//! are forwarded unchanged, and moto does not check signatures anyway.
//!
//! The proxy records the operations it saw, never a body (responses carry secrets).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the function sent it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request line and headers, as sent (without the final blank line).
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The AWS operation: the `X-Amz-Target` suffix for JSON protocols (Secrets Manager),
    /// else the `Action` form field for query protocols (IAM, STS).
    pub fn operation(&self) -> String {
        if let Some(target) = self.header("x-amz-target") {
            return target.rsplit('.').next().unwrap_or(target).to_string();
        }
        let body = String::from_utf8_lossy(&self.body);
        body.split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .map(String::from)
            .unwrap_or_else(|| "?".into())
    }

    /// A form field of a query-protocol request (IAM), URL-decoded enough for user names.
    pub fn form_field(&self, name: &str) -> Option<String> {
        let body = String::from_utf8_lossy(&self.body);
        let prefix = format!("{name}=");
        body.split('&')
            .find_map(|kv| kv.strip_prefix(prefix.as_str()))
            .map(|v| v.replace("%2F", "/").replace("%2f", "/").replace('+', " "))
    }

    fn bytes(&self) -> Vec<u8> {
        // One request per connection: ask moto to close after answering.
        let mut head: Vec<&str> =
            self.head.lines().filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect();
        head.push("Connection: close");
        let mut bytes = head.join("\r\n").into_bytes();
        bytes.extend_from_slice(b"\r\n\r\n");
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// What the proxy does with a request.
#[derive(Debug, Clone)]
pub enum Intercept {
    /// Forward it to moto and relay the answer.
    Forward,
    /// Send moto the same request twice, and relay only the second answer: somebody else's
    /// identical call won the race against this one.
    RaceWithCopy,
    /// Answer with this error instead of forwarding: an AWS JSON-protocol service error.
    ServiceError { status: u16, code: String, message: String },
}

type Rule = dyn Fn(&Request) -> Intercept + Send + Sync;

/// A running proxy; stopped when dropped.
pub struct Proxy {
    port: u16,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("port", &self.port).field("seen", &self.seen()).finish()
    }
}

impl Proxy {
    /// Starts a proxy on a free port of 127.0.0.1 in front of moto's `upstream` port.
    pub fn start(upstream: u16, rule: impl Fn(&Request) -> Intercept + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the proxy on 127.0.0.1");
        let port = listener.local_addr().expect("the proxy's address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let rule: Arc<Rule> = Arc::new(rule);
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (rule, seen) = (rule.clone(), seen.clone());
                    std::thread::spawn(move || serve(conn, upstream, &*rule, &seen));
                }
            })
        };
        Proxy { port, stop, seen, thread: Some(thread) }
    }

    /// `http://127.0.0.1:<port>`, for an `AWS_ENDPOINT_URL_<SERVICE>` variable.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The operations seen so far, in order, with what was done (`PutSecretValue refused`).
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn record(seen: &Mutex<Vec<String>>, entry: String) {
    match seen.lock() {
        Ok(mut s) => s.push(entry),
        Err(p) => p.into_inner().push(entry),
    }
}

fn serve(mut client: TcpStream, upstream: u16, rule: &Rule, seen: &Mutex<Vec<String>>) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let request = match read_request(&client) {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            let _ = respond(&mut client, 400, "BadRequest", &format!("keywarden-e2e proxy: {e}"));
            return;
        }
    };
    let op = request.operation();
    let answer = match rule(&request) {
        Intercept::Forward => {
            record(seen, op);
            forward(&request, upstream)
        }
        Intercept::RaceWithCopy => {
            record(seen, format!("{op} (raced by a copy)"));
            match forward(&request, upstream) {
                Ok(_) => forward(&request, upstream),
                Err(e) => Err(e),
            }
        }
        Intercept::ServiceError { status, code, message } => {
            record(seen, format!("{op} refused ({code})"));
            let _ = respond(&mut client, status, &code, &message);
            return;
        }
    };
    match answer {
        Ok(bytes) => {
            let _ = client.write_all(&close_after(&bytes));
        }
        Err(e) => {
            let _ = respond(&mut client, 502, "BadGateway", &format!("keywarden-e2e proxy to moto: {e}"));
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// Reads one request: head up to the blank line, then `Content-Length` bytes of body.
fn read_request(client: &TcpStream) -> std::io::Result<Option<Request>> {
    let mut reader = BufReader::new(client);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(if head.is_empty() { None } else { Some(Request { head, body: Vec::new() }) });
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push_str(line.trim_end_matches(['\r', '\n']));
        head.push_str("\r\n");
    }
    let head = head.trim_end().to_string();
    let mut request = Request { head, body: Vec::new() };
    if request.header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        return Err(std::io::Error::other("chunked request bodies are not supported"));
    }
    let len: usize = request.header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    request.body = body;
    Ok(Some(request))
}

/// Sends the request to moto on a new connection and reads the whole answer.
fn forward(request: &Request, upstream: u16) -> std::io::Result<Vec<u8>> {
    let mut moto = TcpStream::connect(("127.0.0.1", upstream))?;
    moto.set_read_timeout(Some(Duration::from_secs(60)))?;
    moto.write_all(&request.bytes())?;
    let mut answer = Vec::new();
    moto.read_to_end(&mut answer)?;
    Ok(answer)
}

/// The answer with its `Connection` header replaced by `Connection: close`, so the client
/// does not try to reuse a connection the proxy is about to close.
fn close_after(answer: &[u8]) -> Vec<u8> {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return answer.to_vec();
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut lines: Vec<&str> =
        head.split("\r\n").filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect();
    lines.push("Connection: close");
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(&answer[end..]);
    out
}

fn respond(client: &mut TcpStream, status: u16, code: &str, message: &str) -> std::io::Result<()> {
    let body = serde_json::json!({ "__type": code, "message": message, "Message": message }).to_string();
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    };
    write!(
        client,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: {code}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    client.flush()
}
