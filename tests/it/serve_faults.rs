//! Fault injection in `textcnn serve` (issue 29): the model fails in the middle of a batch,
//! through `ServeConfig::batch_hook`, which runs on the model thread inside the batch's forward
//! pass. No sleeping decides the outcome: the hook holds the model thread until the test has
//! queued the requests it wants in one batch, as `/metrics` shows.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::serve_util::*;
use textcnn::predict::Classifier;
use textcnn::serve::{BatchHook, ServeConfig};

/// The value of the metric line `name` in `/metrics`.
fn metric(server: &TestServer, name: &str) -> f64 {
    let (status, _, text) = get(&server.url("/metrics"));
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

/// Waits until `n` requests wait in the model worker's queue.
fn wait_for_queue(server: &TestServer, n: usize) {
    let waiting = std::time::Instant::now();
    while metric(server, "textcnn_model_queue_jobs") < n as f64 {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "{n} requests never queued"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_fault_in_the_middle_of_a_batch_fails_its_request_and_the_service_goes_on() {
    // The hook records every batch; holds the model thread on a batch holding "hold" until
    // released; and panics on any batch holding a text with "boom".
    let batches = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let hook = {
        let batches = batches.clone();
        let held_tx = Mutex::new(held_tx);
        let release_rx = Mutex::new(release_rx);
        BatchHook(Arc::new(move |texts: &[&str]| {
            batches
                .lock()
                .unwrap()
                .push(texts.iter().map(|t| t.to_string()).collect());
            if texts.contains(&"hold") {
                held_tx.lock().unwrap().send(()).unwrap();
                release_rx.lock().unwrap().recv().unwrap();
            }
            if texts.iter().any(|t| t.contains("boom")) {
                panic!("injected fault: a text says boom");
            }
        }))
    };
    let server = TestServer::start(ServeConfig {
        batch_hook: Some(hook),
        timeout: Duration::from_secs(60),
        ..ServeConfig::default()
    });
    let url = server.url("/v1/predict");
    let send = |body: &'static str| {
        let url = url.clone();
        std::thread::spawn(move || post(&url, body))
    };
    // A holds the model thread; B (with the faulty text) and then C queue behind it, so that
    // they make the next batch together.
    let a = send(r#"{"texts": ["hold"]}"#);
    held_rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let b = send(r#"{"texts": ["a boom film", "an awful film"]}"#);
    wait_for_queue(&server, 1);
    let c = send(r#"{"texts": ["a great film"]}"#);
    wait_for_queue(&server, 2);
    release_tx.send(()).unwrap();
    let (status, body) = a.join().unwrap();
    assert_eq!(status, 200, "{body}");
    // B's batch failed: B gets a 500 naming the fault.
    let (status, body) = b.join().unwrap();
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        json(&body)["error"],
        "the model failed on this request's texts (injected fault: a text says boom); the service goes on"
    );
    // C shared the failed batch; run again alone, it gets its own predictions.
    let classifier = Classifier::load(model_dir()).unwrap();
    let expected = &classifier.predict(&["a great film"])[0];
    let (status, body) = c.join().unwrap();
    assert_eq!(status, 200, "{body}");
    let p = &json(&body)["predictions"][0];
    assert_eq!(p["label"], expected.label.as_str());
    assert_eq!(
        p["probability"].as_f64().unwrap() as f32,
        expected.probability
    );
    let seen = batches.lock().unwrap().clone();
    let b_texts = vec!["a boom film".to_string(), "an awful film".to_string()];
    let mut bc = b_texts.clone();
    bc.push("a great film".into());
    assert_eq!(
        seen,
        [
            vec!["hold".to_string()],
            bc,
            b_texts,
            vec!["a great film".to_string()]
        ],
        "the batches the model ran"
    );
    // The service goes on: the next requests are answered, health is ok, and the failures
    // are counted.
    let (status, body) = post(&url, r#"{"texts": ["a great film", "an awful film"]}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["predictions"].as_array().unwrap().len(), 2);
    let (status, _, body) = get(&server.url("/healthz"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(metric(&server, "textcnn_model_batch_failures_total"), 2.0);
    assert_eq!(metric(&server, "textcnn_model_queue_jobs"), 0.0);
    assert_eq!(
        metric(
            &server,
            "textcnn_http_requests_total{endpoint=\"/v1/predict\",status=\"500\"}"
        ),
        1.0
    );
}
