//! The HTTP service in-process on an ephemeral port: every endpoint, every kind of bad request,
//! limits, the timeout, batching of concurrent requests and the graceful shutdown.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::serve_util::*;
use textcnn::predict::Classifier;
use textcnn::serve::ServeConfig;

fn texts() -> Vec<String> {
    synthetic(20, 7)
        .examples
        .into_iter()
        .map(|e| e.text)
        .collect()
}

#[test]
fn predict_gives_the_library_probabilities_in_input_order() {
    let server = TestServer::start(ServeConfig::default());
    let classifier = Classifier::load(model_dir()).unwrap();
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
    let expected = classifier.predict(&refs);
    let body = serde_json::json!({ "texts": texts, "top_k": 2 }).to_string();
    let (status, answer) = post(&server.url("/v1/predict"), &body);
    assert_eq!(status, 200, "{answer}");
    let v = json(&answer);
    let preds = v["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), texts.len());
    let labels = classifier.labels();
    for (p, e) in preds.iter().zip(&expected) {
        assert_eq!(p["label"], e.label.as_str());
        // Bit-identical: the f32 written by the server parses back to the library's f32.
        assert_eq!(p["probability"].as_f64().unwrap() as f32, e.probability);
        let top = p["top_k"].as_array().unwrap();
        assert_eq!(top.len(), 2);
        for (t, (label, prob)) in top.iter().zip(e.top_k(labels, 2)) {
            assert_eq!(t["label"], label);
            assert_eq!(t["probability"].as_f64().unwrap() as f32, prob);
        }
        assert_eq!(p["truncated"], false);
        assert_eq!(p["n_tokens"].as_u64().unwrap() as usize, e.n_tokens);
    }
    let info = textcnn::serve::ModelInfo::from_dir(model_dir()).unwrap();
    assert_eq!(v["model"]["name"], info.name.as_str());
    assert!(info.version.starts_with("sha256:"));
    assert_eq!(v["model"]["version"], info.version.as_str());

    // TF-Serving style: strings or objects with "text"; default top_k is 1; a top_k above the
    // label count gives every label.
    let instances: Vec<serde_json::Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if i % 2 == 0 {
                serde_json::json!(t)
            } else {
                serde_json::json!({ "text": t, "id": i })
            }
        })
        .collect();
    let (status, answer) = post(
        &server.url("/v1/predict"),
        &serde_json::json!({ "instances": instances }).to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    let v2 = json(&answer);
    for (p, q) in v2["predictions"].as_array().unwrap().iter().zip(preds) {
        assert_eq!(p["probability"], q["probability"]);
        assert_eq!(p["top_k"].as_array().unwrap().len(), 1);
    }
    let (_, answer) = post(
        &server.url("/v1/predict"),
        r#"{"texts": ["great film"], "top_k": 50}"#,
    );
    let v3 = json(&answer);
    let top = v3["predictions"][0]["top_k"].as_array().unwrap();
    assert_eq!(top.len(), labels.len());
    let sum: f64 = top.iter().map(|t| t["probability"].as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-5);
}

#[test]
fn long_texts_are_truncated_and_flagged() {
    let server = TestServer::start(ServeConfig::default());
    let long = vec!["great"; MAX_LEN * 3].join(" ");
    let (status, answer) = post(
        &server.url("/v1/predict"),
        &serde_json::json!({ "texts": [long, "great film"] }).to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    let v = json(&answer);
    assert_eq!(v["predictions"][0]["truncated"], true);
    assert_eq!(v["predictions"][1]["truncated"], false);
    let classifier = Classifier::load(model_dir()).unwrap();
    let e = &classifier.predict(&[long.as_str()])[0];
    assert!(e.truncated);
    assert_eq!(
        v["predictions"][0]["probability"].as_f64().unwrap() as f32,
        e.probability
    );
}

#[test]
fn healthz_model_metrics_and_page() {
    let server = TestServer::start(ServeConfig {
        max_texts: 17,
        ..ServeConfig::default()
    });
    let (status, ct, body) = get(&server.url("/healthz"));
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    assert_eq!(json(&body)["status"], "ok");

    let (status, _, body) = get(&server.url("/v1/model"));
    assert_eq!(status, 200);
    let m = json(&body);
    assert_eq!(m["labels"], serde_json::json!(["neg", "pos"]));
    assert_eq!(m["architecture"]["type"], "kim");
    assert_eq!(m["architecture"]["region_sizes"], serde_json::json!([2, 3]));
    assert_eq!(m["encode"]["max_len"], MAX_LEN);
    assert!(m["training"]["config"].is_object(), "{m}");
    assert!(m["best"]["epoch"].is_u64(), "{m}");
    assert!(m["best"]["valid_acc"].is_f64(), "{m}");
    assert!(m["dataset"]["train"]["examples"].is_u64(), "{m}");
    assert_eq!(m["limits"]["max_texts"], 17);
    assert!(m["parameters"].as_u64().unwrap() > 0);

    let (status, ct, page) = get(&server.url("/"));
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/html"));
    assert!(page.contains("<textarea") && page.contains("/v1/predict"));
    // Self-contained: no external scripts, styles or fonts.
    for needle in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "@import",
        "//cdn",
        "fonts.",
    ] {
        assert!(!page.contains(needle), "page refers to {needle}");
    }

    post(
        &server.url("/v1/predict"),
        r#"{"texts": ["great", "awful"]}"#,
    );
    post(&server.url("/v1/predict"), r#"{"texts": []}"#);
    get(&server.url("/nowhere"));
    let (status, ct, metrics) = get(&server.url("/metrics"));
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/plain; version=0.0.4"));
    for line in [
        "textcnn_http_requests_total{endpoint=\"/v1/predict\",status=\"200\"} 1\n",
        "textcnn_http_requests_total{endpoint=\"/v1/predict\",status=\"422\"} 1\n",
        "textcnn_http_requests_total{endpoint=\"/healthz\",status=\"200\"} 1\n",
        "textcnn_http_requests_total{endpoint=\"other\",status=\"404\"} 1\n",
        "textcnn_http_errors_total{endpoint=\"/v1/predict\"} 1\n",
        "textcnn_http_request_duration_seconds_count{endpoint=\"/v1/predict\"} 2\n",
        "textcnn_http_request_duration_seconds_bucket{endpoint=\"/v1/predict\",le=\"+Inf\"} 2\n",
        "textcnn_texts_classified_total 2\n",
        "# TYPE textcnn_http_request_duration_seconds histogram\n",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
    }
    server.stop().unwrap();
}

/// Every bad request: a 4xx with `{"error": message}` naming the problem; never a 5xx.
#[test]
fn bad_requests_get_a_json_4xx_saying_what_is_wrong() {
    let server = TestServer::start(ServeConfig {
        max_body_bytes: 4096,
        max_texts: 3,
        max_chars: 100,
        ..ServeConfig::default()
    });
    let long_text = format!("{{\"texts\": [\"{}\"]}}", "é".repeat(101));
    let big_body = format!("{{\"texts\": [\"{}\"]}}", "a".repeat(5000));
    let chunked_big = {
        let chunk = "a".repeat(3000);
        format!(
            "POST /v1/predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
            chunk.len(),
            chunk.len()
        )
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "invalid JSON",
            post_bytes("/v1/predict", b"{\"texts\": [\"a\""),
            400,
            "invalid JSON",
        ),
        (
            "not JSON at all",
            post_bytes("/v1/predict", b"texts=a"),
            400,
            "invalid JSON",
        ),
        ("empty body", post_bytes("/v1/predict", b""), 400, "empty"),
        (
            "non-UTF-8",
            post_bytes("/v1/predict", b"{\"texts\": [\"caf\xe9\"]}"),
            400,
            "UTF-8",
        ),
        (
            "not an object",
            post_bytes("/v1/predict", b"[\"a\"]"),
            422,
            "JSON object",
        ),
        (
            "missing field",
            post_bytes("/v1/predict", b"{\"text\": [\"a\"]}"),
            422,
            "missing field \"texts\"",
        ),
        (
            "texts not a list",
            post_bytes("/v1/predict", b"{\"texts\": \"a\"}"),
            422,
            "\"texts\" must be a list",
        ),
        (
            "text not a string",
            post_bytes("/v1/predict", b"{\"texts\": [\"a\", 1]}"),
            422,
            "texts[1] must be a string",
        ),
        (
            "null text",
            post_bytes("/v1/predict", b"{\"texts\": [null]}"),
            422,
            "texts[0] must be a string, not null",
        ),
        (
            "instance without text",
            post_bytes("/v1/predict", b"{\"instances\": [{\"body\": \"a\"}]}"),
            422,
            "instances[0] has no \"text\" field",
        ),
        (
            "instance text not a string",
            post_bytes("/v1/predict", b"{\"instances\": [{\"text\": []}]}"),
            422,
            "instances[0].text must be a string",
        ),
        (
            "both fields",
            post_bytes(
                "/v1/predict",
                b"{\"texts\": [\"a\"], \"instances\": [\"a\"]}",
            ),
            422,
            "not both",
        ),
        (
            "empty list",
            post_bytes("/v1/predict", b"{\"texts\": []}"),
            422,
            "empty list",
        ),
        (
            "empty string",
            post_bytes("/v1/predict", b"{\"texts\": [\"a\", \"\"]}"),
            422,
            "texts[1] is an empty string",
        ),
        (
            "blank string",
            post_bytes("/v1/predict", b"{\"instances\": [\"  \\n\"]}"),
            422,
            "instances[0] is an empty string",
        ),
        (
            "bad top_k",
            post_bytes("/v1/predict", b"{\"texts\": [\"a\"], \"top_k\": -1}"),
            422,
            "\"top_k\" must be an integer >= 1",
        ),
        (
            "too many texts",
            post_bytes("/v1/predict", b"{\"texts\": [\"a\", \"b\", \"c\", \"d\"]}"),
            413,
            "4 texts in one request, more than the limit of 3 (--max-texts)",
        ),
        (
            "too long text",
            post_bytes("/v1/predict", long_text.as_bytes()),
            413,
            "texts[0] has 101 characters, more than the limit of 100 (--max-chars)",
        ),
        (
            "too large body",
            post_bytes("/v1/predict", big_body.as_bytes()),
            413,
            "larger than the limit of 4096 bytes (--max-body-bytes)",
        ),
        (
            "too large chunked body",
            chunked_big.into_bytes(),
            413,
            "larger than the limit of 4096 bytes",
        ),
        (
            "GET on predict",
            b"GET /v1/predict HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(),
            405,
            "method GET is not allowed for /v1/predict (use POST)",
        ),
        (
            "POST on healthz",
            post_bytes("/healthz", b"{}"),
            405,
            "method POST is not allowed for /healthz",
        ),
        (
            "DELETE on model",
            b"DELETE /v1/model HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(),
            405,
            "not allowed",
        ),
        (
            "unknown path",
            b"GET /v2/predict HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(),
            404,
            "no endpoint GET /v2/predict",
        ),
        (
            "unknown path POST",
            post_bytes("/predict", b"{\"texts\": [\"a\"]}"),
            404,
            "no endpoint POST /predict",
        ),
    ];
    let n_cases = cases.len();
    for (what, request, status, needle) in cases {
        let (got, body) = raw(server.addr, &request);
        assert_eq!(got, status, "{what}: {body}");
        let v = json(&body);
        let message = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no \"error\" string in {body}"));
        assert!(
            message.contains(needle),
            "{what}: {message:?} lacks {needle:?}"
        );
    }
    // The service is fine afterwards and counted every error, none as a 5xx.
    let (status, _) = post(&server.url("/v1/predict"), r#"{"texts": ["great"]}"#);
    assert_eq!(status, 200);
    let (_, _, metrics) = get(&server.url("/metrics"));
    let errors: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("textcnn_http_errors_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(errors as usize, n_cases, "{metrics}");
    assert!(!metrics.contains("status=\"5"), "{metrics}");
}

#[test]
fn a_request_past_the_timeout_gets_a_json_503() {
    let server = TestServer::start(ServeConfig {
        timeout: Duration::from_millis(300),
        ..ServeConfig::default()
    });
    // Announce a body and never finish it.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"texts\"")
        .unwrap();
    let (status, body) = read_response(&mut s);
    assert_eq!(status, 503, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("300 ms"));
}

#[test]
fn concurrent_requests_each_get_their_own_answers() {
    let server = TestServer::start(ServeConfig::default());
    let classifier = Classifier::load(model_dir()).unwrap();
    let texts = texts();
    let url = server.url("/v1/predict");
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|t| {
                let url = url.clone();
                let mine: Vec<String> = texts.iter().skip(t % 5).take(1 + t % 4).cloned().collect();
                scope.spawn(move || {
                    let mut got = Vec::new();
                    for _ in 0..10 {
                        let (status, body) =
                            post(&url, &serde_json::json!({ "texts": mine }).to_string());
                        assert_eq!(status, 200, "{body}");
                        got.push(json(&body));
                    }
                    (mine, got)
                })
            })
            .collect();
        for h in handles {
            let (mine, answers) = h.join().unwrap();
            let refs: Vec<&str> = mine.iter().map(|s| s.as_str()).collect();
            let expected = classifier.predict(&refs);
            for v in answers {
                let preds = v["predictions"].as_array().unwrap();
                assert_eq!(preds.len(), expected.len());
                for (p, e) in preds.iter().zip(&expected) {
                    assert_eq!(p["probability"].as_f64().unwrap() as f32, e.probability);
                    assert_eq!(p["label"], e.label.as_str());
                }
            }
        }
    });
}

#[test]
fn graceful_shutdown_finishes_the_request_in_flight() {
    let mut server = TestServer::start(ServeConfig::default());
    let body = br#"{"texts": ["a great film", "an awful film"]}"#;
    let request = post_bytes("/v1/predict", body);
    let (head, rest) = request.split_at(request.len() - 10);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.begin_shutdown();
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(rest).unwrap();
    let (status, answer) = read_response(&mut s);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(json(&answer)["predictions"].as_array().unwrap().len(), 2);
    server.stop().unwrap();
}

#[test]
fn requests_beyond_max_concurrent_wait_for_a_slot() {
    let server = TestServer::start(ServeConfig {
        max_concurrent: 1,
        timeout: Duration::from_secs(20),
        ..ServeConfig::default()
    });
    // A holds the only slot while its body is incomplete.
    let a_request = post_bytes("/v1/predict", br#"{"texts": ["a great film"]}"#);
    let (a_head, a_rest) = a_request.split_at(a_request.len() - 4);
    let mut a = TcpStream::connect(server.addr).unwrap();
    a.write_all(a_head).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // B is complete but gets no answer until A is done.
    let mut b = TcpStream::connect(server.addr).unwrap();
    b.write_all(&post_bytes("/v1/predict", br#"{"texts": ["awful"]}"#))
        .unwrap();
    b.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = std::io::Read::read(&mut b, &mut byte);
    assert!(early.is_err(), "B was answered while A held the only slot");
    a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    a.write_all(a_rest).unwrap();
    assert_eq!(read_response(&mut a).0, 200);
    assert_eq!(read_response(&mut b).0, 200);
}

/// Issue 18, item 16: a `Content-Length` above `--max-body-bytes` was not rejected up front: a
/// client that sent only the headers got a 503 after the timeout instead of an immediate 413.
#[test]
fn a_declared_body_over_the_limit_gets_an_immediate_413() {
    let server = TestServer::start(ServeConfig {
        max_body_bytes: 4096,
        timeout: Duration::from_secs(20),
        ..ServeConfig::default()
    });
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = std::time::Instant::now();
    s.write_all(b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n{\"texts\"")
        .unwrap();
    let (status, body) = read_response(&mut s);
    assert_eq!(status, 413, "{body}");
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("5000 bytes, Content-Length) is larger than the limit of 4096 bytes"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

/// Issue 18, item 17: a text with no tokens once tokenized (only HTML tags) got a confident
/// label with a 200 while a blank one got a 422. Both get the 422 now.
#[test]
fn a_text_without_tokens_is_refused_as_an_empty_one_is() {
    let server = TestServer::start(ServeConfig::default());
    let url = server.url("/v1/predict");
    let (status, body) = post(&url, r#"{"texts": ["a great film", "<br /><b></b>"]}"#);
    assert_eq!(status, 422, "{body}");
    let message = json(&body)["error"].as_str().unwrap().to_string();
    assert!(
        message.contains("texts[1] has no tokens after tokenization")
            && message.contains("n_tokens: 0"),
        "{message}"
    );
    let (status, body) = post(&url, r#"{"instances": [{"text": "<p></p>"}]}"#);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("instances[0] has no tokens"), "{body}");
    let (status, body) = post(&url, r#"{"texts": ["a great film"]}"#);
    assert_eq!(status, 200, "{body}");
}

/// Issue 18, item 5: the number of open connections is bounded by `max_connections`. Connections
/// with a request in flight keep their slots: a new client waits in the listen backlog until
/// one of them is answered and closes.
#[test]
fn connections_with_a_request_in_flight_keep_their_slots() {
    use std::io::Read;
    let server = TestServer::start(ServeConfig {
        timeout: Duration::from_secs(20),
        max_connections: 2,
        ..ServeConfig::default()
    });
    let body = br#"{"texts": ["a great film"]}"#;
    let request = post_bytes("/v1/predict", body);
    let (head, rest) = request.split_at(request.len() - body.len());
    // a and b have sent their heads, not their bodies: both requests are in flight.
    let busy = || {
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.write_all(head).unwrap();
        s
    };
    let (mut a, mut b) = (busy(), busy());
    std::thread::sleep(Duration::from_millis(100));
    let mut c = TcpStream::connect(server.addr).unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        c.read(&mut byte).is_err(),
        "answered beyond the connection limit while both connections had requests in flight"
    );
    // a is answered and closes (Connection: close), which frees a slot for c.
    a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    a.write_all(rest).unwrap();
    assert_eq!(read_response(&mut a).0, 200);
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (status, body) = read_response(&mut c);
    assert_eq!(status, 200, "{body}");
    b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    b.write_all(rest).unwrap();
    assert_eq!(read_response(&mut b).0, 200);
}

/// Whether the server has closed `s` (end of stream or reset), reading for at most `wait`.
fn closed_by_server(s: &mut TcpStream, wait: Duration) -> bool {
    use std::io::{ErrorKind, Read};
    s.set_read_timeout(Some(wait)).unwrap();
    match s.read(&mut [0u8; 256]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

/// Issue 29, M4: a request head trickled one byte at a time kept its connection open for good
/// (every byte restarted the idle timeout). The whole head must arrive within
/// `header_timeout`: the connection is closed while the client is still sending it.
#[test]
fn a_head_trickled_byte_by_byte_is_cut_off_at_the_header_timeout() {
    let server = TestServer::start(ServeConfig {
        header_timeout: Duration::from_millis(300),
        timeout: Duration::from_secs(60),
        ..ServeConfig::default()
    });
    let mut s = TcpStream::connect(server.addr).unwrap();
    let mut head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ".to_vec();
    // 440 bytes with a 50 ms wait for an answer after each: 22 s if nothing cuts it off, far
    // past the 300 ms, and never a complete head.
    head.resize(440, b'a');
    let sent = head.iter().position(|&byte| {
        s.write_all(&[byte]).is_err() || closed_by_server(&mut s, Duration::from_millis(50))
    });
    assert!(
        sent.is_some(),
        "the connection was still open after the client trickled {} bytes of its head",
        head.len()
    );
    // The service itself is fine.
    let (status, _, body) = get(&server.url("/healthz"));
    assert_eq!(status, 200, "{body}");
}

/// Issue 29, M4: 4 connections that never finished their heads held every slot of
/// `--max-connections 4`, and `GET /healthz` waited until it timed out (so did 520 at the
/// default 512). A new connection now takes the slot of the connection that has waited longest
/// without a request in flight, which is closed; the others are untouched.
#[test]
fn healthz_answers_while_slow_clients_hold_every_connection_slot() {
    let server = TestServer::start(ServeConfig {
        max_connections: 4,
        // Neither timeout closes anything during the test.
        header_timeout: Duration::from_secs(60),
        timeout: Duration::from_secs(60),
        ..ServeConfig::default()
    });
    let head = b"GET /healthz HTTP/1.1\r\nHost: t\r\n";
    let mut slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(head).unwrap();
            s
        })
        .collect();
    // Accepted after the four (the listen backlog is first come, first served).
    let mut h = TcpStream::connect(server.addr).unwrap();
    h.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    h.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (status, body) = read_response(&mut h);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["status"], "ok");
    // The oldest slow connection gave up its slot; the three others are still open, and can
    // finish their requests.
    assert!(closed_by_server(&mut slow[0], Duration::from_secs(10)));
    for s in &mut slow[1..] {
        assert!(!closed_by_server(s, Duration::from_millis(100)));
    }
    let s = &mut slow[1];
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"Connection: close\r\n\r\n").unwrap();
    assert_eq!(read_response(s).0, 200);
}

/// Issue 29, L7: a request whose `Content-Length` cannot be parsed is answered by hyper while it
/// parses the head, before any handler runs, with a 400 and no body; hyper has no hook to give
/// that answer a body (see the docs of `textcnn::serve::serve`). This pins
/// that answer, and that the service goes on.
#[test]
fn an_unparseable_content_length_gets_a_bodiless_400_and_the_service_goes_on() {
    let (status, body) = {
        let server = TestServer::start(ServeConfig::default());
        let answer = raw(
            server.addr,
            b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}",
        );
        let (status, _, body) = get(&server.url("/healthz"));
        assert_eq!(status, 200, "{body}");
        answer
    };
    assert_eq!((status, body.as_str()), (400, ""));
}
