//! A small intercepting HTTP proxy in front of moto, for the failures moto cannot produce by
//! itself at the right moment: a service that refuses one write (Secrets Manager refusing
//! `PutSecretValue` after the new key was created), another actor winning a race (a second
//! `CreateAccessKey` for the same user landing just before keywarden's), and the faults of a
//! real network and a real, busy AWS: throttling, a 503, a connection reset before the call
//! arrived, a slow answer, and, worst of all, an answer lost after AWS acted on the call.
//!
//! The function can be pointed at it for one service, with the SDK's standard
//! service-specific endpoint variable (`AWS_ENDPOINT_URL_IAM`,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`), or for all of them with `AWS_ENDPOINT_URL`: moto
//! serves every service on one port, and the proxy tells the protocols apart by the request
//! itself (see [`Request::operation`]).
//!
//! Each request is read whole (the SDK sends a `Content-Length`), shown to a rule that
//! decides what happens to it ([`Intercept`]), and, unless the rule answers it, forwarded to
//! moto on a new connection. Every connection carries one request (`Connection: close` both
//! ways), which keeps the proxy trivial, costs nothing on 127.0.0.1, and means a reset hits
//! exactly one call. Signatures stay valid: the bytes are forwarded unchanged, and moto does
//! not check signatures anyway.
//!
//! The rule is any closure; for randomized runs it is a seeded [`FaultPlan`], so a failing
//! run can be replayed from its seed.
//!
//! The proxy logs every request ([`Entry`]: operation, target, fault, whether moto acted on
//! it), never a body beyond those two names: requests carry secret values and responses
//! carry secret access keys, and a log is exactly what a failing test prints.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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
    /// else the `Action` form field for query protocols (IAM, STS, SNS). Anything else is a
    /// REST call, which for keywarden means S3 (the report bucket): `s3:<METHOD>`, as REST
    /// operations are named by method and path, and the path holds object keys.
    pub fn operation(&self) -> String {
        if let Some(target) = self.header("x-amz-target") {
            return target.rsplit('.').next().unwrap_or(target).to_string();
        }
        if let Some(action) = self.form_field("Action") {
            return action;
        }
        match self.head.split_whitespace().next() {
            Some(method) => format!("s3:{method}"),
            None => "?".into(),
        }
    }

    /// A form field of a query-protocol request (IAM), URL-decoded enough for user names.
    pub fn form_field(&self, name: &str) -> Option<String> {
        let body = String::from_utf8_lossy(&self.body);
        let prefix = format!("{name}=");
        body.split('&')
            .find_map(|kv| kv.strip_prefix(prefix.as_str()))
            .map(|v| v.replace("%2F", "/").replace("%2f", "/").replace('+', " "))
    }

    /// What the call is about, for the log: IAM's `UserName`, or the `SecretId` (else `Name`)
    /// of a Secrets Manager call. Only these names are read out of a body, never a value:
    /// the same bodies carry `SecretString`.
    pub fn target(&self) -> Option<String> {
        if self.is_json_protocol() {
            let json: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
            return ["SecretId", "Name"].iter().find_map(|f| json.get(f)?.as_str().map(String::from));
        }
        self.form_field("UserName")
    }

    /// JSON protocols name the operation in `X-Amz-Target`; query protocols (IAM, STS) in
    /// the form body. An error answer must come in the caller's protocol, or the SDK cannot
    /// read its code and classifies it by status alone.
    fn is_json_protocol(&self) -> bool {
        self.header("x-amz-target").is_some()
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intercept {
    /// Forward it to moto and relay the answer.
    Forward,
    /// Send moto the same request twice, and relay only the second answer: somebody else's
    /// identical call won the race against this one.
    RaceWithCopy,
    /// Answer with this error instead of forwarding: an AWS JSON-protocol service error
    /// (always JSON, whatever the caller's protocol, as the tests written against it expect).
    ServiceError { status: u16, code: String, message: String },
    /// Answer with this error in the caller's protocol (query XML for IAM and STS, JSON for
    /// JSON protocols) instead of forwarding: a refusal the SDK reads the code of, such as
    /// STS's `AccessDenied` on an `AssumeRole` whose trust does not admit the caller.
    Refuse { status: u16, code: String, message: String },
    /// Answer 400 with the service's throttling error instead of forwarding (`Throttling` in
    /// query-protocol XML for IAM and STS, `ThrottlingException` in JSON for Secrets
    /// Manager): what a busy account's IAM answers a scan that pages too fast. The SDK
    /// retries it, so it tests that retries are not doubled or swallowed.
    Throttle,
    /// Answer 503 `ServiceUnavailable`, in the caller's protocol, instead of forwarding.
    Unavailable,
    /// Read the request, forward nothing, and reset the connection (RST): the call never
    /// reached AWS, and the caller cannot know that.
    ResetBeforeForward,
    /// Wait this long, then forward: a slow region, or a slow network.
    Delay(Duration),
    /// Forward, read moto's whole answer (so moto has acted), then reset the connection
    /// without relaying any of it: the call took effect and the caller was not told. This is
    /// the fault a rotation must survive: a key created whose secret nobody received.
    DropResponse,
    /// Forward, and replace `from` by `to` in moto's answer: an account state AWS can be in
    /// and moto cannot represent (a root user with MFA: moto's `GetAccountSummary` always
    /// says `AccountMFAEnabled` 0). Not a fault; the log shows it as forwarded.
    Rewrite { from: &'static str, to: &'static str },
}

impl Intercept {
    /// The fault this is, for the log; `None` for [`Intercept::Forward`].
    pub fn kind(&self) -> Option<FaultKind> {
        Some(match self {
            Intercept::Forward | Intercept::Rewrite { .. } => return None,
            Intercept::RaceWithCopy => FaultKind::RaceWithCopy,
            Intercept::ServiceError { .. } | Intercept::Refuse { .. } => FaultKind::ServiceError,
            Intercept::Throttle => FaultKind::Throttle,
            Intercept::Unavailable => FaultKind::Unavailable,
            Intercept::ResetBeforeForward => FaultKind::ResetBeforeForward,
            Intercept::Delay(_) => FaultKind::Delay,
            Intercept::DropResponse => FaultKind::DropResponse,
        })
    }

    /// How [`Proxy::seen`] shows a request handled this way.
    fn describe(&self, op: &str) -> String {
        match self {
            Intercept::Forward => op.to_string(),
            Intercept::Rewrite { .. } => format!("{op} (answer rewritten)"),
            Intercept::RaceWithCopy => format!("{op} (raced by a copy)"),
            Intercept::ServiceError { code, .. } | Intercept::Refuse { code, .. } => {
                format!("{op} refused ({code})")
            }
            Intercept::Throttle => format!("{op} throttled"),
            Intercept::Unavailable => format!("{op} unavailable (503)"),
            Intercept::ResetBeforeForward => format!("{op} reset before forwarding"),
            Intercept::Delay(d) => format!("{op} (delayed {} ms)", d.as_millis()),
            Intercept::DropResponse => format!("{op} (answer dropped)"),
        }
    }
}

/// The kind of an [`Intercept`] other than `Forward`, for the log and for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    Throttle,
    Unavailable,
    ResetBeforeForward,
    Delay,
    DropResponse,
    ServiceError,
    RaceWithCopy,
}

/// One request the proxy handled. Only names: never a body, as bodies carry secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// [`Request::operation`].
    pub operation: String,
    /// [`Request::target`]: the user or secret the call was about.
    pub target: Option<String>,
    /// The fault injected, if any.
    pub fault: Option<FaultKind>,
    /// moto answered it (so it acted on it), whatever the caller was then told. With
    /// [`Intercept::DropResponse`] this is true while the caller saw only a reset.
    pub reached_aws: bool,
}

/// The fault plan of a randomized run: a seed, a rate, and the faults it may choose.
///
/// Each request it applies to is faulted with probability `rate`, with a kind drawn
/// uniformly from its kinds (and, for [`FaultKind::Delay`], a delay drawn from its range).
/// Every draw comes from one [`fastrand::Rng`] seeded with the seed, so the same seed and
/// the same sequence of requests give the same faults: print the seed, and a failing run can
/// be replayed. Requests outside [`FaultPlan::operations`] draw nothing, so traffic the plan
/// does not target (the harness's own reads, say) does not shift its faults. Every attempt
/// counts as a request: the SDK's retries are drawn for too (each retry of a faulted call
/// may itself be faulted, as in real life).
///
/// [`FaultPlan::nth`] rules pin a fault to the n-th request of an operation ("throttle the
/// first `CreateUser` only"); they apply before, and instead of, the random draw.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use keywarden_e2e::proxy::{FaultPlan, Intercept, Proxy};
/// let plan = Arc::new(FaultPlan::new(42, 0.2).nth("CreateAccessKey", 1, Intercept::DropResponse));
/// let proxy = {
///     let plan = plan.clone();
///     Proxy::start(4566, move |req| plan.decide(req))
/// };
/// // … a faulty run …
/// plan.set_enabled(false);
/// // … normal runs, which must recover …
/// # drop(proxy);
/// ```
#[derive(Debug)]
pub struct FaultPlan {
    seed: u64,
    rate: f64,
    operations: Option<BTreeSet<String>>,
    kinds: Vec<FaultKind>,
    delays: RangeInclusive<Duration>,
    rules: Vec<NthRule>,
    enabled: AtomicBool,
    state: Mutex<PlanState>,
}

#[derive(Debug)]
struct NthRule {
    operation: String,
    n: usize,
    intercept: Intercept,
}

#[derive(Debug)]
struct PlanState {
    rng: fastrand::Rng,
    /// Requests seen so far, by operation, for the `nth` rules.
    counts: HashMap<String, usize>,
}

impl FaultPlan {
    /// The kinds a plan chooses from unless told otherwise: the faults of the network and
    /// of AWS itself. `ServiceError` needs a code only a test can choose, and `RaceWithCopy`
    /// is another actor, not a fault.
    pub const DEFAULT_KINDS: [FaultKind; 5] = [
        FaultKind::Throttle,
        FaultKind::Unavailable,
        FaultKind::ResetBeforeForward,
        FaultKind::Delay,
        FaultKind::DropResponse,
    ];

    /// A plan that faults each request with probability `rate` (0.0 to 1.0), for every
    /// operation, with any of [`FaultPlan::DEFAULT_KINDS`] and delays of 50 to 300 ms.
    pub fn new(seed: u64, rate: f64) -> Self {
        assert!((0.0..=1.0).contains(&rate), "a fault rate is between 0.0 and 1.0, not {rate}");
        FaultPlan {
            seed,
            rate,
            operations: None,
            kinds: Self::DEFAULT_KINDS.to_vec(),
            delays: Duration::from_millis(50)..=Duration::from_millis(300),
            rules: Vec::new(),
            enabled: AtomicBool::new(true),
            state: Mutex::new(PlanState { rng: fastrand::Rng::with_seed(seed), counts: HashMap::new() }),
        }
    }

    /// Random faults only for these operations ([`Request::operation`] names, such as
    /// `CreateAccessKey` or `PutSecretValue`); others are forwarded and draw nothing.
    pub fn operations<S: Into<String>>(mut self, operations: impl IntoIterator<Item = S>) -> Self {
        self.operations = Some(operations.into_iter().map(Into::into).collect());
        self
    }

    /// Choose only among these kinds. `ServiceError` cannot be chosen (it needs a code):
    /// pin one with [`FaultPlan::nth`] instead.
    pub fn kinds(mut self, kinds: impl IntoIterator<Item = FaultKind>) -> Self {
        self.kinds = kinds.into_iter().collect();
        assert!(!self.kinds.is_empty(), "a fault plan needs at least one kind to choose from");
        assert!(
            !self.kinds.contains(&FaultKind::ServiceError),
            "a fault plan cannot choose ServiceError (it needs a code): use FaultPlan::nth"
        );
        self
    }

    /// Draw delays from this range (whole milliseconds) instead of 50 to 300 ms.
    pub fn delays(mut self, range: RangeInclusive<Duration>) -> Self {
        assert!(range.start() <= range.end(), "an empty delay range: {range:?}");
        self.delays = range;
        self
    }

    /// Handle the `n`-th request of `operation` (counting from 1, retries included, whether
    /// or not the plan is enabled) with `intercept`, instead of drawing. `nth("CreateUser",
    /// 1, Intercept::Throttle)` throttles the first attempt only, so the SDK's retry passes.
    pub fn nth(mut self, operation: &str, n: usize, intercept: Intercept) -> Self {
        assert!(n >= 1, "nth counts from 1 (the first {operation} is n = 1)");
        self.rules.push(NthRule { operation: operation.to_string(), n, intercept });
        self
    }

    /// The seed, to print with a failure so the run can be replayed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Turns faults on or off. Off, every request is forwarded and nothing is drawn, so
    /// "normal runs" after a faulty one go through untouched, and a plan enabled again
    /// carries on with the faults it would have drawn next.
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::SeqCst);
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// What to do with this request; the proxy's rule (`move |req| plan.decide(req)`).
    pub fn decide(&self, request: &Request) -> Intercept {
        let op = request.operation();
        // One lock for counting and drawing, so concurrent requests draw in one order.
        let mut state = lock(&self.state);
        let count = state.counts.entry(op.clone()).or_insert(0);
        *count += 1;
        let count = *count;
        if !self.is_enabled() {
            return Intercept::Forward;
        }
        if let Some(rule) = self.rules.iter().find(|r| r.operation == op && r.n == count) {
            return rule.intercept.clone();
        }
        if self.operations.as_ref().is_some_and(|ops| !ops.contains(&op)) {
            return Intercept::Forward;
        }
        if state.rng.f64() >= self.rate {
            return Intercept::Forward;
        }
        match self.kinds[state.rng.usize(..self.kinds.len())] {
            FaultKind::Throttle => Intercept::Throttle,
            FaultKind::Unavailable => Intercept::Unavailable,
            FaultKind::ResetBeforeForward => Intercept::ResetBeforeForward,
            FaultKind::DropResponse => Intercept::DropResponse,
            FaultKind::RaceWithCopy => Intercept::RaceWithCopy,
            FaultKind::Delay => {
                let ms = |d: &Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                let (lo, hi) = (ms(self.delays.start()), ms(self.delays.end()));
                Intercept::Delay(Duration::from_millis(state.rng.u64(lo..=hi)))
            }
            // Refused by `kinds`; forward rather than invent an error code.
            FaultKind::ServiceError => Intercept::Forward,
        }
    }
}

type Rule = dyn Fn(&Request) -> Intercept + Send + Sync;

/// A log line and how [`Proxy::seen`] shows it (which keeps the `ServiceError` code).
#[derive(Debug, Clone)]
struct Record {
    entry: Entry,
    seen: String,
}

type Log = Mutex<Vec<Record>>;

/// A running proxy; stopped when dropped.
pub struct Proxy {
    port: u16,
    stop: Arc<AtomicBool>,
    log: Arc<Log>,
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
        let log: Arc<Log> = Arc::new(Mutex::new(Vec::new()));
        let rule: Arc<Rule> = Arc::new(rule);
        let thread = {
            let (stop, log) = (stop.clone(), log.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (rule, log) = (rule.clone(), log.clone());
                    std::thread::spawn(move || serve(conn, upstream, &*rule, &log));
                }
            })
        };
        Proxy { port, stop, log, thread: Some(thread) }
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL` or an `AWS_ENDPOINT_URL_<SERVICE>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The operations seen so far, in order, with what was done (`PutSecretValue refused
    /// (AccessDeniedException)`, `CreateAccessKey (raced by a copy)`, `CreateUser throttled`).
    pub fn seen(&self) -> Vec<String> {
        lock(&self.log).iter().map(|r| r.seen.clone()).collect()
    }

    /// Every request so far, in the order the rule saw them. A request is logged before it
    /// is answered, and `reached_aws` is set before the caller hears anything, so once an SDK
    /// call returns, its entries are final.
    pub fn log(&self) -> Vec<Entry> {
        lock(&self.log).iter().map(|r| r.entry.clone()).collect()
    }

    /// How many faults of each kind were injected so far ("faults injected by kind").
    pub fn fault_counts(&self) -> BTreeMap<FaultKind, usize> {
        let mut counts = BTreeMap::new();
        for kind in lock(&self.log).iter().filter_map(|r| r.entry.fault) {
            *counts.entry(kind).or_insert(0) += 1;
        }
        counts
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

/// A lock that survives a panicked holder: the log is append-only, so whatever a panicking
/// thread left in it is still true.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Appends an entry; returns its index, for [`mark_reached`].
fn record(log: &Log, entry: Entry, seen: String) -> usize {
    let mut log = lock(log);
    log.push(Record { entry, seen });
    log.len() - 1
}

fn mark_reached(log: &Log, index: usize) {
    if let Some(r) = lock(log).get_mut(index) {
        r.entry.reached_aws = true;
    }
}

fn serve(mut client: TcpStream, upstream: u16, rule: &Rule, log: &Log) {
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
    let intercept = rule(&request);
    let entry = Entry {
        operation: op.clone(),
        target: request.target(),
        fault: intercept.kind(),
        reached_aws: false,
    };
    let index = record(log, entry, intercept.describe(&op));
    // Forwards to moto; an answer read back means moto acted on the request.
    let forward_logged = || {
        let answer = forward(&request, upstream);
        if answer.is_ok() {
            mark_reached(log, index);
        }
        answer
    };
    let answer = match intercept {
        Intercept::Forward => forward_logged(),
        Intercept::Rewrite { from, to } => forward_logged().map(|answer| rewrite(&answer, from, to)),
        Intercept::RaceWithCopy => forward_logged().and_then(|_| forward_logged()),
        Intercept::Delay(delay) => {
            std::thread::sleep(delay);
            forward_logged()
        }
        Intercept::ServiceError { status, code, message } => {
            let _ = respond(&mut client, status, &code, &message);
            return;
        }
        Intercept::Refuse { status, code, message } => {
            let _ = respond_in_protocol(&mut client, &request, status, &code, &message);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Intercept::Throttle => {
            let _ = respond_in_protocol(&mut client, &request, 400, "Throttling", "Rate exceeded");
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Intercept::Unavailable => {
            let _ = respond_in_protocol(
                &mut client,
                &request,
                503,
                "ServiceUnavailable",
                "Service is unavailable",
            );
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Intercept::ResetBeforeForward => return reset(client),
        Intercept::DropResponse => match forward_logged() {
            Ok(_) => return reset(client),
            Err(e) => Err(e),
        },
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

/// Closes the connection with a reset (RST) instead of the usual FIN: `SO_LINGER` with a
/// zero timeout makes `close` drop whatever is unsent and abort the connection, as a load
/// balancer or NAT that forgot the connection does. The caller sees "connection reset by
/// peer" while waiting for the answer, and cannot tell whether the call arrived.
fn reset(client: TcpStream) {
    let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
    drop(client);
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

/// The answer with `from` replaced by `to` in its body and `Content-Length` set to match.
fn rewrite(answer: &[u8], from: &str, to: &str) -> Vec<u8> {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return answer.to_vec();
    };
    let body = String::from_utf8_lossy(&answer[end + 4..]).replace(from, to);
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut lines: Vec<String> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
        .map(str::to_string)
        .collect();
    lines.push(format!("Content-Length: {}", body.len()));
    let mut out = (lines.join("\r\n") + "\r\n\r\n").into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
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

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// An AWS JSON-protocol error (`__type`, and the code in `x-amzn-ErrorType`).
fn respond(client: &mut TcpStream, status: u16, code: &str, message: &str) -> std::io::Result<()> {
    let body = serde_json::json!({ "__type": code, "message": message, "Message": message }).to_string();
    write_answer(client, status, "application/x-amz-json-1.1", &[("x-amzn-ErrorType", code)], &body)
}

/// An AWS error as the caller's protocol spells it, so the SDK reads the code (and, for a
/// throttling code, retries with backoff as it would against AWS): JSON with `__type` and
/// `x-amzn-ErrorType` for JSON protocols (the code gets the `Exception` suffix those
/// services use: `ThrottlingException`), else the query protocol's XML `ErrorResponse`.
/// `code` and `message` are fixed strings of this file, so nothing needs escaping.
fn respond_in_protocol(
    client: &mut TcpStream,
    request: &Request,
    status: u16,
    code: &str,
    message: &str,
) -> std::io::Result<()> {
    static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);
    let request_id = format!("00000000-0000-4000-8000-{:012x}", REQUEST_IDS.fetch_add(1, Ordering::Relaxed));
    let ids = [("x-amzn-RequestId", request_id.as_str())];
    if request.is_json_protocol() {
        let code = if code == "Throttling" { "ThrottlingException" } else { code };
        // Answer in the JSON version the caller speaks (Secrets Manager: 1.1).
        let content_type = request
            .header("content-type")
            .filter(|t| t.starts_with("application/x-amz-json-"))
            .unwrap_or("application/x-amz-json-1.1");
        let body = serde_json::json!({ "__type": code, "message": message }).to_string();
        write_answer(client, status, content_type, &[("x-amzn-ErrorType", code), ids[0]], &body)
    } else {
        let fault = if status < 500 { "Sender" } else { "Receiver" };
        let body = format!(
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>{fault}</Type>\
             <Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId>\
             </ErrorResponse>"
        );
        write_answer(client, status, "text/xml", &ids, &body)
    }
}

fn write_answer(
    client: &mut TcpStream,
    status: u16,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    client.write_all(head.as_bytes())?;
    client.write_all(body.as_bytes())?;
    client.flush()
}
