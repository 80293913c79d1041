//! `textcnn serve`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use clap::Args;
use textcnn::predict::Classifier;
use textcnn::serve::{AppState, ModelInfo, ServeConfig};

/// Serve a model over HTTP: POST /v1/predict, KServe's V1 POST /v1/models/NAME:predict, GET
/// /v1/model, /healthz, /metrics, and a web page at /.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Model bundle directory (the --output of `textcnn train`).
    #[arg(long)]
    pub model: PathBuf,
    /// Address to listen on; 0.0.0.0 or :: exposes the service to the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free one (the address is printed on standard output).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Threads running the model, 0 = all cores.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Most texts per request.
    #[arg(long, default_value_t = 256)]
    pub max_texts: usize,
    /// Most characters per text (texts longer than the model's max_len tokens are truncated
    /// and flagged; texts over this limit are rejected).
    #[arg(long, default_value_t = 100_000)]
    pub max_chars: usize,
    /// Time limit of a predict request in milliseconds (answered with 503 past it).
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Predict requests handled at once; more wait (bounds memory to about this many bodies).
    #[arg(long, default_value_t = 256)]
    pub max_concurrent: usize,
    /// Connections open at once. When all are taken, a new one takes the slot of the
    /// connection that has waited longest without a request in flight (a client still sending
    /// its headers, an idle keep-alive), which is closed; when all have requests in flight, new
    /// ones wait to be accepted. A connection on which nothing is received or sent for
    /// --timeout-ms plus one second is closed.
    #[arg(long, default_value_t = 512)]
    pub max_connections: usize,
    /// Time in milliseconds a client has to send a request's line and headers, from the
    /// connection's start or the end of the previous answer on it; past it the connection is
    /// closed (so also the longest an idle keep-alive connection stays open).
    #[arg(long, default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// The model's name in responses and in KServe's path /v1/models/NAME:predict (default:
    /// the bundle folder's name).
    #[arg(long)]
    pub model_name: Option<String>,
    /// Memory cap in MiB of the projection cache of the most frequent words (Kim models: built
    /// at start, faster inference; 0 = off).
    #[arg(long, default_value_t = textcnn::nn::token_proj::DEFAULT_PROJ_CACHE_BYTES >> 20)]
    pub proj_cache_mb: usize,
}

pub fn run(args: ServeArgs) -> Result<()> {
    ensure!(
        args.max_body_bytes >= 1,
        "--max-body-bytes must be at least 1"
    );
    ensure!(args.max_texts >= 1, "--max-texts must be at least 1");
    ensure!(args.max_chars >= 1, "--max-chars must be at least 1");
    ensure!(args.timeout_ms >= 1, "--timeout-ms must be at least 1");
    ensure!(
        args.max_concurrent >= 1,
        "--max-concurrent must be at least 1"
    );
    ensure!(
        args.max_connections >= 1,
        "--max-connections must be at least 1"
    );
    ensure!(
        args.header_timeout_ms >= 1,
        "--header-timeout-ms must be at least 1"
    );
    let mut classifier = Classifier::load(&args.model)?;
    classifier.set_proj_cache_bytes(args.proj_cache_mb.saturating_mul(1 << 20));
    let (words, bytes) =
        textcnn::nn::thread_pool(args.threads).install(|| classifier.warm_proj_cache());
    if words > 0 {
        eprintln!(
            "projection cache: {words} words, {:.0} MiB",
            bytes as f64 / (1 << 20) as f64
        );
    }
    let mut info = ModelInfo::from_dir(&args.model)?;
    if let Some(name) = &args.model_name {
        ensure!(
            !name.is_empty() && !name.contains(['/', ':']) && !name.chars().any(char::is_control),
            "--model-name must be non-empty without '/', ':' or control characters, got {name:?}"
        );
        info.name = name.clone();
    }
    let config = ServeConfig {
        threads: args.threads,
        max_body_bytes: args.max_body_bytes,
        max_texts: args.max_texts,
        max_chars: args.max_chars,
        timeout: Duration::from_millis(args.timeout_ms),
        max_concurrent: args.max_concurrent,
        max_connections: args.max_connections,
        header_timeout: Duration::from_millis(args.header_timeout_ms),
        ..ServeConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        let addr: SocketAddr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            eprintln!(
                "warning: listening on all interfaces ({}); anyone who can reach this machine can use the model",
                addr.ip()
            );
        }
        eprintln!(
            "serving model {} ({}), labels: {}",
            info.name,
            info.version,
            classifier.labels().join(", ")
        );
        let state = AppState::new(classifier, info, config);
        let report = args.model.join(textcnn::report::REPORT_HTML);
        if report.is_file() {
            let html = std::fs::read_to_string(&report)
                .with_context(|| format!("cannot read {}", report.display()))?;
            state.set_report(html);
        }
        println!("listening on http://{addr}");
        std::io::stdout().flush()?;
        textcnn::serve::serve(listener, state, textcnn::serve::shutdown_signal()).await?;
        eprintln!("shut down");
        Ok(())
    })
}
