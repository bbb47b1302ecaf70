use std::sync::Arc;

use super::sample as value;
use super::*;

fn scraped(metrics: &Metrics, now: &Now) -> String {
    metrics.encode(now, false).unwrap()
}

#[test]
fn requests_are_counted_by_method_route_and_status_and_odd_methods_add_no_series() {
    let metrics = Metrics::new("hq", "sqlite");
    metrics.answered("GET", "/api/v1/health", 200, 0.001);
    metrics.answered("GET", "/api/v1/health", 200, 0.002);
    metrics.answered("POST", "/api/v1/login", 401, 0.3);
    metrics.answered("BREW", UNMATCHED, 404, 0.001);
    let text = scraped(&metrics, &Now::default());
    let health = r#"method="GET",route="/api/v1/health""#;
    assert_eq!(
        value(
            &text,
            &format!("fairpos_hq_http_requests_total{{{health},status=\"200\"}}")
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &text,
            r#"fairpos_hq_http_requests_total{method="POST",route="/api/v1/login",status="401"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"fairpos_hq_http_requests_total{method="other",route="unmatched",status="404"}"#
        ),
        Some(1.0)
    );
    assert!(!text.contains("BREW"), "{text}");
    assert_eq!(
        value(
            &text,
            &format!("fairpos_hq_http_request_duration_seconds_count{{{health}}}")
        ),
        Some(2.0)
    );
    // 1 ms and 2 ms are both under the first bucket, 5 ms; 0.3 s is not under 0.16 s.
    assert_eq!(
        value(
            &text,
            &format!("fairpos_hq_http_request_duration_seconds_bucket{{{health},le=\"0.005\"}}")
        ),
        Some(2.0)
    );
    let login = r#"method="POST",route="/api/v1/login""#;
    assert_eq!(
        value(
            &text,
            &format!("fairpos_hq_http_request_duration_seconds_bucket{{{login},le=\"0.16\"}}")
        ),
        Some(0.0)
    );
}

#[test]
fn a_sync_connection_is_open_until_its_guard_is_dropped() {
    let metrics = Arc::new(Metrics::new("hq", "sqlite"));
    let first = metrics.sync_opened();
    let second = metrics.sync_opened();
    metrics.sync_received(300);
    metrics.sync_sent(20);
    metrics.sync_sent(22);
    drop(first);
    let text = scraped(&metrics, &Now::default());
    assert_eq!(value(&text, "fairpos_hq_sync_connections_open"), Some(1.0));
    assert_eq!(value(&text, "fairpos_hq_sync_connections_total"), Some(2.0));
    assert_eq!(
        value(&text, "fairpos_hq_sync_received_bytes_total"),
        Some(300.0)
    );
    assert_eq!(value(&text, "fairpos_hq_sync_sent_bytes_total"), Some(42.0));
    drop(second);
    let text = scraped(&metrics, &Now::default());
    assert_eq!(value(&text, "fairpos_hq_sync_connections_open"), Some(0.0));
}

#[test]
fn projection_passes_add_up() {
    let metrics = Metrics::new("hq", "postgres");
    metrics.projected(Projected {
        ledgers: 2,
        records: 40,
        documents_loaded: 1,
        failed: 1,
        refused: 0,
        took: std::time::Duration::from_millis(3),
    });
    metrics.projected(Projected {
        ledgers: 1,
        records: 3,
        documents_loaded: 0,
        failed: 0,
        refused: 1,
        took: std::time::Duration::from_millis(1500),
    });
    let text = scraped(&metrics, &Now::default());
    for (series, want) in [
        ("passes", 2.0),
        ("ledgers", 3.0),
        ("records", 43.0),
        ("documents_loaded", 1.0),
        ("failures", 1.0),
        ("refused", 1.0),
    ] {
        assert_eq!(
            value(&text, &format!("fairpos_hq_projection_{series}_total")),
            Some(want),
            "{series}"
        );
    }
    // Both passes timed: 3 ms is under 4 ms, 1.5 s is not under 1.024 s but is under 2.048 s.
    let duration = "fairpos_hq_projection_pass_duration_seconds";
    for (series, want) in [
        (format!("{duration}_count"), 2.0),
        (format!("{duration}_bucket{{le=\"0.004\"}}"), 1.0),
        (format!("{duration}_bucket{{le=\"1.024\"}}"), 1.0),
        (format!("{duration}_bucket{{le=\"2.048\"}}"), 2.0),
    ] {
        assert_eq!(value(&text, &series), Some(want), "{series}:\n{text}");
    }
}

#[test]
fn the_disk_pools_screens_and_certificate_are_as_the_scrape_reads_them() {
    let metrics = Metrics::new("hq", "postgres");
    let unread = Now {
        disk_min_free: 2 << 30,
        ..Now::default()
    };
    let text = scraped(&metrics, &unread);
    assert_eq!(value(&text, "fairpos_hq_disk_free_bytes"), None, "{text}");
    assert_eq!(value(&text, "fairpos_hq_database_size_bytes"), None);
    assert_eq!(value(&text, "fairpos_hq_projection_backlog_ledgers"), None);
    let expiry = "fairpos_hq_tls_certificate_expiry_timestamp_seconds";
    assert_eq!(value(&text, expiry), None, "no TLS, no series");
    assert_eq!(
        value(&text, "fairpos_hq_disk_min_free_bytes"),
        Some((2u64 << 30) as f64)
    );
    let now = Now {
        tls_expires: Some(1_798_761_600),
        disk_free: Some(1 << 30),
        disk_min_free: 2 << 30,
        disk_low: true,
        screens: 3,
        database_bytes: Some(7 << 20),
        backlog: Some(12),
        pools: vec![
            (
                "sync",
                PoolStatus {
                    max: 16,
                    open: 10,
                    idle: 4,
                    waiting: 2,
                },
            ),
            (
                "ready",
                PoolStatus {
                    max: 1,
                    open: 1,
                    idle: 1,
                    waiting: 0,
                },
            ),
        ],
    };
    let text = scraped(&metrics, &now);
    assert_eq!(
        value(&text, "fairpos_hq_disk_free_bytes"),
        Some((1u64 << 30) as f64)
    );
    assert_eq!(value(&text, "fairpos_hq_disk_low"), Some(1.0));
    assert_eq!(
        value(&text, "fairpos_hq_database_size_bytes"),
        Some((7u64 << 20) as f64)
    );
    assert_eq!(value(&text, "fairpos_hq_screens_open"), Some(3.0));
    assert_eq!(value(&text, expiry), Some(1_798_761_600.0));
    assert_eq!(
        value(&text, "fairpos_hq_projection_backlog_ledgers"),
        Some(12.0)
    );
    for (series, want) in [
        (r#"db_connections{pool="sync",state="in_use"}"#, 6.0),
        (r#"db_connections{pool="sync",state="idle"}"#, 4.0),
        (r#"db_connections_max{pool="sync"}"#, 16.0),
        (r#"db_waiting{pool="sync"}"#, 2.0),
        (r#"db_connections{pool="ready",state="in_use"}"#, 0.0),
        (r#"db_connections_max{pool="ready"}"#, 1.0),
    ] {
        assert_eq!(
            value(&text, &format!("fairpos_hq_{series}")),
            Some(want),
            "{series}"
        );
    }
    // Read again without a disk reading, a size, a backlog or a certificate's expiry: their
    // series go.
    let text = scraped(&metrics, &unread);
    assert_eq!(value(&text, "fairpos_hq_disk_free_bytes"), None, "{text}");
    assert_eq!(value(&text, "fairpos_hq_database_size_bytes"), None);
    assert_eq!(value(&text, "fairpos_hq_projection_backlog_ledgers"), None);
    assert_eq!(value(&text, expiry), None);
}

#[test]
fn both_formats_name_the_build_and_only_openmetrics_ends_with_eof() {
    let metrics = Metrics::new("hub", "sqlite");
    let prometheus = metrics.encode(&Now::default(), false).unwrap();
    let openmetrics = metrics.encode(&Now::default(), true).unwrap();
    let build = format!(
        "fairpos_hq_build_info{{version=\"{}\",role=\"hub\",backend=\"sqlite\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&prometheus, &build), Some(1.0), "{prometheus}");
    assert_eq!(value(&openmetrics, &build), Some(1.0), "{openmetrics}");
    assert!(openmetrics.ends_with("# EOF\n"));
    assert!(!prometheus.contains("# EOF"));
    assert!(prometheus.contains("# TYPE fairpos_hq_sync_connections_total counter"));
    assert!(content_type(true).starts_with("application/openmetrics-text"));
    assert!(content_type(false).starts_with("text/plain; version=0.0.4"));
}

#[test]
fn sync_connections_cut_off_are_counted_by_why_each_at_zero_from_the_start() {
    let metrics = Metrics::new("hq", "sqlite");
    metrics.sync_cut_off("idle");
    metrics.sync_cut_off("idle");
    metrics.sync_cut_off("replaced");
    let text = scraped(&metrics, &Now::default());
    let series = |why: &str| format!("fairpos_hq_sync_connections_cut_off_total{{why=\"{why}\"}}");
    assert_eq!(value(&text, &series("idle")), Some(2.0), "{text}");
    assert_eq!(value(&text, &series("replaced")), Some(1.0));
    assert_eq!(value(&text, &series("send_timeout")), Some(0.0));
    assert_eq!(value(&text, &series("too_large")), Some(0.0));
}
