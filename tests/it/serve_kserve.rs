//! KServe's V1 inference protocol on `textcnn serve` (issue 17): model list, readiness, and
//! `POST /v1/models/NAME:predict`, whose predictions are those of `POST /v1/predict`; and its
//! V2, the Open Inference Protocol (issue 31).

use crate::serve_util::*;
use textcnn::predict::{Classifier, Prediction};
use textcnn::serve::{ModelInfo, ServeConfig};

/// `n` synthetic texts, `Classifier::predict`'s predictions of them and the model's labels.
fn texts_and_predictions(n: usize, seed: usize) -> (Vec<String>, Vec<Prediction>, Vec<String>) {
    let texts: Vec<String> = synthetic(n, seed)
        .examples
        .into_iter()
        .map(|e| e.text)
        .collect();
    let classifier = Classifier::load(model_dir()).unwrap();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let expected = classifier.predict(&refs);
    (texts, expected, classifier.labels().to_vec())
}

#[test]
fn kserve_v1_predict_gives_the_predictions_of_v1_predict() {
    let server = TestServer::start(ServeConfig::default());
    let name = ModelInfo::from_dir(model_dir()).unwrap().name;
    let (texts, expected, _) = texts_and_predictions(12, 5);

    // Instances as strings or {"text": ...} objects, in input order.
    let instances: Vec<serde_json::Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if i % 2 == 0 {
                serde_json::json!(t)
            } else {
                serde_json::json!({ "text": t })
            }
        })
        .collect();
    let body = serde_json::json!({ "instances": instances }).to_string();
    let (status, answer) = post(&server.url(&format!("/v1/models/{name}:predict")), &body);
    assert_eq!(status, 200, "{answer}");
    let v = json(&answer);
    // KServe's V1 answer is {"predictions": [...]} and nothing else.
    assert_eq!(
        v.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["predictions"]
    );
    let preds = v["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), texts.len());
    for (p, e) in preds.iter().zip(&expected) {
        assert_eq!(p["label"], e.label.as_str());
        assert_eq!(p["probability"].as_f64().unwrap() as f32, e.probability);
    }
    // The same body on the native endpoint gives the same predictions.
    let (_, native) = post(&server.url("/v1/predict"), &body);
    assert_eq!(json(&native)["predictions"], v["predictions"]);

    // Model list and readiness.
    let (status, _, list) = get(&server.url("/v1/models"));
    assert_eq!(status, 200);
    assert_eq!(json(&list), serde_json::json!({ "models": [name] }));
    let (status, _, ready) = get(&server.url(&format!("/v1/models/{name}")));
    assert_eq!(status, 200);
    assert_eq!(
        json(&ready),
        serde_json::json!({ "name": name, "ready": true })
    );

    // The metrics count the KServe path under one label, whatever the name.
    let (_, _, metrics) = get(&server.url("/metrics"));
    assert!(
        metrics.contains(
            "textcnn_http_requests_total{endpoint=\"/v1/models/NAME:predict\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
}

#[test]
fn kserve_errors_are_json_and_name_the_served_model() {
    let server = TestServer::start(ServeConfig::default());
    let name = ModelInfo::from_dir(model_dir()).unwrap().name;
    let (status, answer) = post(
        &server.url("/v1/models/other:predict"),
        r#"{"instances": ["great film"]}"#,
    );
    assert_eq!(status, 404);
    assert_eq!(
        json(&answer)["error"],
        format!(
            "no model named \"other\"; this service serves \"{name}\" (POST /v1/models/{name}:predict)"
        )
    );
    let (status, answer) = post(
        &server.url(&format!("/v1/models/{name}:explain")),
        r#"{"instances": ["great film"]}"#,
    );
    assert_eq!(status, 404);
    assert!(
        json(&answer)["error"]
            .as_str()
            .unwrap()
            .contains(&format!("POST /v1/models/{name}:predict")),
        "{answer}"
    );
    let (status, _, answer) = get(&server.url("/v1/models/other"));
    assert_eq!(status, 404, "{answer}");
    // Bad bodies get the checks of /v1/predict.
    let (status, answer) = post(
        &server.url(&format!("/v1/models/{name}:predict")),
        r#"{"instances": []}"#,
    );
    assert_eq!(status, 422);
    assert!(answer.contains("empty list"), "{answer}");
    // Issue 29, L7: GET on the predict path was a 404 (as the readiness of a model named
    // "NAME:predict"); it is the wrong method for that path.
    for target in [name.as_str(), "other"] {
        let path = format!("/v1/models/{target}:predict");
        let mut r = agent().get(&server.url(&path)).call().unwrap();
        assert_eq!(r.status().as_u16(), 405, "{path}");
        assert_eq!(r.headers().get("allow").unwrap(), "POST", "{path}");
        let answer = r.body_mut().read_to_string().unwrap();
        assert_eq!(
            json(&answer)["error"],
            format!("method GET is not allowed for {path} (use POST)")
        );
    }
    // Other methods on it say the same.
    let path = format!("/v1/models/{name}:predict");
    let mut r = agent().put(&server.url(&path)).send("").unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers().get("allow").unwrap(), "POST");
    assert_eq!(
        json(&r.body_mut().read_to_string().unwrap())["error"],
        format!("method PUT is not allowed for {path} (use POST)")
    );
}

/// KServe V2 (Open Inference Protocol): health, metadata, readiness, and an inference request
/// exactly as the `kserve` Python client's `InferRequest.to_rest()` writes it, whose outputs
/// are `Classifier::predict`'s probabilities and labels.
#[test]
fn kserve_v2_infer_gives_the_probabilities_of_predict() {
    let server = TestServer::start(ServeConfig::default());
    let name = ModelInfo::from_dir(model_dir()).unwrap().name;
    let (texts, expected, labels) = texts_and_predictions(6, 9);

    for (path, want) in [
        ("/v2/health/live", serde_json::json!({ "live": true })),
        ("/v2/health/ready", serde_json::json!({ "ready": true })),
        (
            &format!("/v2/models/{name}/ready") as &str,
            serde_json::json!({ "name": name, "ready": true }),
        ),
    ] {
        let (status, _, answer) = get(&server.url(path));
        assert_eq!(status, 200, "{path}");
        assert_eq!(json(&answer), want, "{path}");
    }
    let (status, _, meta) = get(&server.url(&format!("/v2/models/{name}")));
    assert_eq!(status, 200);
    let meta = json(&meta);
    assert_eq!(meta["name"], name.as_str());
    assert_eq!(meta["inputs"][0]["datatype"], "BYTES");
    assert_eq!(meta["outputs"][0]["name"], "probabilities");
    assert_eq!(
        meta["outputs"][0]["shape"],
        serde_json::json!([-1, labels.len()])
    );
    assert_eq!(meta["parameters"]["labels"], serde_json::json!(labels));

    // The body of kserve.InferRequest(model_name, infer_inputs=[InferInput("input-0", [n],
    // "BYTES", data)], request_id="r-1").to_rest().
    let body = serde_json::json!({
        "id": "r-1",
        "inputs": [{ "name": "input-0", "shape": [texts.len()], "datatype": "BYTES", "data": texts }],
    })
    .to_string();
    let (status, answer) = post(&server.url(&format!("/v2/models/{name}/infer")), &body);
    assert_eq!(status, 200, "{answer}");
    let v = json(&answer);
    assert_eq!(v["model_name"], name.as_str());
    assert_eq!(v["id"], "r-1");
    let outputs = v["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 2);
    let (probs, label) = (&outputs[0], &outputs[1]);
    assert_eq!(probs["name"], "probabilities");
    assert_eq!(probs["datatype"], "FP32");
    assert_eq!(
        probs["shape"],
        serde_json::json!([texts.len(), labels.len()])
    );
    let data: Vec<f32> = probs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let want: Vec<f32> = expected
        .iter()
        .flat_map(|p| p.probabilities.clone())
        .collect();
    assert_eq!(data, want, "f32 probabilities are written exactly");
    assert_eq!(label["name"], "label");
    assert_eq!(label["datatype"], "BYTES");
    assert_eq!(label["shape"], serde_json::json!([texts.len()]));
    let want_labels: Vec<&str> = expected.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(label["data"], serde_json::json!(want_labels));

    // Asking for one output returns that one only.
    let body = serde_json::json!({
        "inputs": [{ "name": "text", "shape": [1, 1], "datatype": "BYTES", "data": [[texts[0]]] }],
        "outputs": [{ "name": "label" }],
    })
    .to_string();
    let (status, answer) = post(&server.url(&format!("/v2/models/{name}/infer")), &body);
    assert_eq!(status, 200, "{answer}");
    let v = json(&answer);
    assert_eq!(v["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(v["outputs"][0]["data"], serde_json::json!([want_labels[0]]));

    // Errors are JSON {"error": ..}: another model, a malformed request.
    let (status, answer) = post(&server.url("/v2/models/other/infer"), &body);
    assert_eq!(status, 404);
    assert!(
        json(&answer)["error"]
            .as_str()
            .unwrap()
            .contains("no model named")
    );
    let (status, answer) = post(
        &server.url(&format!("/v2/models/{name}/infer")),
        r#"{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]}"#,
    );
    assert_eq!(status, 400);
    assert!(json(&answer)["error"].as_str().unwrap().contains("BYTES"));
    let (_, _, metrics) = get(&server.url("/metrics"));
    assert!(
        metrics.contains(
            "textcnn_http_requests_total{endpoint=\"/v2/models/NAME/infer\",status=\"200\"} 2"
        ),
        "{metrics}"
    );
}
