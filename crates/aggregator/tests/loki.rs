//! The Loki client against hand-written answers in Loki's documented `query_range` format,
//! served by a one-shot loopback HTTP server that also records the request it got.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::Duration;

use aggregator::ApiError;
use aggregator::loki::{LokiClient, REQUEST_LINES_QUERY};

/// Serves `body` with `status` to one request; the thread returns the request line.
fn one_shot(status: u16, body: &'static str) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut header = String::new();
        while reader.read_line(&mut header).unwrap() > 2 {
            header.clear();
        }
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        request_line
    });
    (base, handle)
}

const TWO_STREAMS: &str = r#"{"status":"success","data":{"resultType":"streams","result":[
 {"stream":{"app":"cl-target","pod":"small#0","size":"small"},"values":[["1700000000000000300","{\"type\":\"prev_request_history\",\"seq\":1}"]]},
 {"stream":{"app":"cl-target","pod":"large#0","size":"large"},"values":[["1700000000000000100","{\"type\":\"prev_request_history\",\"seq\":0}"],["1700000000000000200","{\"type\":\"prev_request_history\",\"seq\":1}"]]}
],"stats":{}}}"#;

#[test]
fn loki_fixture_streams_merge_in_time_order_and_the_request_is_one_query() {
    let (base, server) = one_shot(200, TWO_STREAMS);
    let client = LokiClient::new(&base, Duration::from_secs(5)).unwrap();
    let lines = client
        .query_range(
            REQUEST_LINES_QUERY,
            1_700_000_000_000_000_000,
            1_700_000_001_000_000_000,
            5000,
        )
        .unwrap();
    let order: Vec<(i64, &str)> = lines
        .iter()
        .map(|l| (l.ts_ns, l.labels["pod"].as_str()))
        .collect();
    assert_eq!(
        order,
        [
            (1_700_000_000_000_000_100, "large#0"),
            (1_700_000_000_000_000_200, "large#0"),
            (1_700_000_000_000_000_300, "small#0")
        ]
    );
    assert!(lines[2].line.contains("\"seq\":1"));

    let request_line = server.join().unwrap();
    let target = request_line.split(' ').nth(1).unwrap();
    let (path, query) = target.split_once('?').unwrap();
    assert_eq!(path, "/loki/api/v1/query_range");
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        get("query"),
        Some(r#"{app="cl-target"} |= "prev_request_history" | json"#)
    );
    assert_eq!(get("start"), Some("1700000000000000000"));
    assert_eq!(get("end"), Some("1700000001000000000"));
    assert_eq!(get("limit"), Some("5000"));
    assert_eq!(get("direction"), Some("forward"));
}

#[test]
fn loki_fixture_errors_and_garbage_name_loki() {
    for (status, body) in [
        (400, r#"{"status":"error","error":"parse error at line 1"}"#),
        (200, "<html>not loki</html>"),
        (
            200,
            r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
        ),
        (
            200,
            r#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{},"values":[["soon","x"]]}]}}"#,
        ),
    ] {
        let (base, server) = one_shot(status, body);
        let client = LokiClient::new(&base, Duration::from_secs(5)).unwrap();
        let error = client
            .query_range(REQUEST_LINES_QUERY, 0, 1, 10)
            .unwrap_err();
        assert!(
            matches!(
                error,
                ApiError::Upstream {
                    upstream: "loki",
                    ..
                }
            ),
            "{body}: {error:?}"
        );
        assert_eq!(error.status(), 502);
        server.join().unwrap();
    }
}

#[test]
fn loki_down_is_a_502_and_silence_a_504() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let client = LokiClient::new(&format!("http://{address}"), Duration::from_secs(2)).unwrap();
    assert_eq!(
        client
            .query_range(REQUEST_LINES_QUERY, 0, 1, 10)
            .unwrap_err()
            .status(),
        502
    );

    // Accepts, never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = LokiClient::new(
        &format!("http://{}", silent.local_addr().unwrap()),
        Duration::from_millis(300),
    )
    .unwrap();
    let error = client
        .query_range(REQUEST_LINES_QUERY, 0, 1, 10)
        .unwrap_err();
    assert!(
        matches!(
            error,
            ApiError::UpstreamTimeout {
                upstream: "loki",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.status(), 504);
}
