//! `textcnn serve` as a process: the address on standard output, the same probabilities as
//! `textcnn predict`, graceful shutdown on SIGTERM, the warning for all interfaces, bad flags.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::serve_util::*;

const BIN: &str = env!("CARGO_BIN_EXE_textcnn");

/// Starts `textcnn serve` with `extra` flags and returns the child and the address it printed.
fn spawn(extra: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .arg("--model")
        .arg(model_dir())
        .args(["--port", "0", "--threads", "2"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    child.stderr.take().unwrap().read_to_string(&mut s).unwrap();
    s
}

#[test]
fn same_probabilities_as_textcnn_predict_and_graceful_sigterm() {
    let (mut child, addr) = spawn(&[]);
    let texts: Vec<String> = synthetic(12, 9)
        .examples
        .into_iter()
        .map(|e| e.text)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("texts.txt");
    std::fs::write(&input, texts.join("\n") + "\n").unwrap();
    let out = Command::new(BIN)
        .args(["predict", "--json", "--top-k", "2", "--model"])
        .arg(model_dir())
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success());
    let cli: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(json)
        .collect();
    let (status, body) = post(
        &format!("http://{addr}/v1/predict"),
        &serde_json::json!({ "texts": texts, "top_k": 2 }).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let served = json(&body);
    let served = served["predictions"].as_array().unwrap();
    assert_eq!(served.len(), cli.len());
    for (s, c) in served.iter().zip(&cli) {
        assert_eq!(s["label"], c["label"]);
        assert_eq!(
            s["probability"].as_f64().unwrap() as f32,
            c["probability"].as_f64().unwrap() as f32
        );
        for (a, b) in s["top_k"]
            .as_array()
            .unwrap()
            .iter()
            .zip(c["top_k"].as_array().unwrap())
        {
            assert_eq!(a["label"], b["label"]);
            assert_eq!(
                a["probability"].as_f64().unwrap() as f32,
                b["probability"].as_f64().unwrap() as f32
            );
        }
    }

    // A request in flight when SIGTERM arrives is still answered; then the process exits 0.
    let request = post_bytes("/v1/predict", br#"{"texts": ["a great film"]}"#);
    let (head, rest) = request.split_at(request.len() - 5);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(rest).unwrap();
    let (status, body) = read_response(&mut s);
    assert_eq!(status, 200, "{body}");
    let exit = child.wait().unwrap();
    let err = stderr_of(&mut child);
    assert!(exit.success(), "{exit:?}: {err}");
    assert!(err.contains("shut down"), "{err}");
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn warns_when_listening_on_all_interfaces() {
    let (mut child, addr) = spawn(&["--host", "0.0.0.0"]);
    assert!(addr.ip().is_unspecified());
    let url = format!("http://127.0.0.1:{}/healthz", addr.port());
    assert_eq!(get(&url).0, 200);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let exit = child.wait().unwrap();
    let err = stderr_of(&mut child);
    assert!(exit.success(), "{err}");
    assert!(
        err.contains("warning: listening on all interfaces"),
        "{err}"
    );
}

#[test]
fn bad_flags_and_missing_model_are_errors() {
    let out = Command::new(BIN)
        .args(["serve", "--model", "/nonexistent/model", "--port", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let out = Command::new(BIN)
        .arg("serve")
        .arg("--model")
        .arg(model_dir())
        .args(["--port", "0", "--max-texts", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-texts must be at least 1"));
}

/// Issue 18, item 5: a client that never finishes its headers (here: one byte every 50 ms, so
/// it is never idle) kept the process alive after SIGTERM (still up 45 s later). The process
/// exits within `--timeout-ms` of the signal whatever the clients do.
#[test]
fn sigterm_ends_the_process_within_the_timeout_despite_a_slow_client() {
    let (mut child, addr) = spawn(&["--timeout-ms", "500"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let dribbler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let _ = s.write_all(b"POST /v1/predict HTTP/1.1\r\n");
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if s.write_all(b"X").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let signalled = std::time::Instant::now();
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if signalled.elapsed() > Duration::from_secs(5) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    if exit.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    dribbler.join().unwrap();
    let exit = exit.expect("still running 5 s after SIGTERM");
    assert!(exit.success(), "{exit:?}: {}", stderr_of(&mut child));
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "{:?}",
        signalled.elapsed()
    );
}
