//! Helpers shared by the `serve_*` tests: a tiny model trained in well under a second, an
//! in-process server on an ephemeral port, and raw HTTP over a TcpStream for requests no
//! well-behaved client would send.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

pub use crate::common::synthetic;
use textcnn::predict::Classifier;
use textcnn::serve::{AppState, ModelInfo, ServeConfig};
use textcnn::train::{TrainConfig, TrainData, TrainOptions, train};

/// Max tokens of the test model, so that truncation is easy to trigger.
pub const MAX_LEN: usize = 50;

/// A bundle trained once per test binary (kept until the process exits).
pub fn model_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (tr, va) = (synthetic(300, 1), synthetic(60, 2));
        let data = TrainData {
            train: &tr,
            valid: &va,
            test: None,
        };
        let config = TrainConfig {
            epochs: Some(3),
            batch_size: 16,
            emb_dim: 16,
            feature_maps: 8,
            region_sizes: vec![2, 3],
            max_len: MAX_LEN,
            threads: 2,
            lr: 3e-3,
            ..TrainConfig::default()
        };
        train(&config, &data, dir.path(), &TrainOptions::default()).unwrap();
        dir
    })
    .path()
}

/// A server running in-process on 127.0.0.1:<ephemeral>; shut down gracefully on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub fn start(config: ServeConfig) -> TestServer {
        let dir = model_dir();
        let classifier = Classifier::load(dir).unwrap();
        let info = ModelInfo::from_dir(dir).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                addr_tx.send(listener.local_addr()?).unwrap();
                let state = AppState::new(classifier, info, config);
                textcnn::serve::serve(listener, state, async {
                    let _ = rx.await;
                })
                .await
            })
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        TestServer {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Starts the graceful shutdown (returns at once).
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down and waits until the server has stopped.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.begin_shutdown();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.begin_shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An HTTP client that returns 4xx/5xx responses instead of errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// `(status, body)` of a request made with `agent()`.
pub fn post(url: &str, body: &str) -> (u16, String) {
    let mut r = agent()
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap())
}

pub fn get(url: &str) -> (u16, String, String) {
    let mut r = agent().get(url).call().unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.body_mut().read_to_string().unwrap())
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// Sends `request` (raw bytes, should say `Connection: close`) and returns the status and body.
pub fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // The server may answer (and close) before reading the whole body; ignore write errors.
    let _ = s.write_all(request);
    read_response(&mut s)
}

/// Reads a whole `Connection: close` response.
pub fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP response: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A POST request with the given body and a correct Content-Length.
pub fn post_bytes(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}
