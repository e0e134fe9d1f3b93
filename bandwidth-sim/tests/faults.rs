mod common;

use bandwidth_sim::Faults;
use common::*;
use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[tokio::test]
async fn rate_limit_answers_429_with_reset() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    sim.set_faults(faults(|f| f.rate_limit = Some(3)));
    let url = format!("{}/api/v1/roles", sim.base_url());
    let (mut ok, mut limited) = (0, 0);
    let mut reset = None;
    for _ in 0..10 {
        let resp = get(&url, &t).await;
        match resp.status().as_u16() {
            200 => ok += 1,
            429 => {
                limited += 1;
                assert!(resp.headers().get("retry-after").is_none());
                let r: u64 = resp.headers()["x-ratelimit-reset"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                reset = Some(r);
                assert!(
                    resp.bytes().await.unwrap().is_empty(),
                    "429 has an empty body"
                );
            }
            s => panic!("unexpected {s}"),
        }
    }
    // Ten quick calls span at most two one-second windows.
    assert!(ok <= 6 && limited >= 4, "ok {ok}, limited {limited}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let reset = reset.unwrap();
    assert!(reset >= now && reset <= now + 1, "reset {reset}, now {now}");
    let stats = sim.snapshot().stats;
    assert_eq!(stats.rate_limited, limited);
    assert_eq!(stats.by_status.get("429"), Some(&limited));

    // After the window ends the credential may call again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let resp = get(&url, &t).await;
    assert_eq!(resp.status(), 200);
    // The token endpoint is not rate limited.
    assert_eq!(
        token_response(&sim, "sim-client", "sim-secret")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn auth_is_checked_before_rate_limit_and_failures() {
    let sim = start_v1().await;
    sim.set_faults(Faults {
        rate_limit: Some(0),
        fail_rate: 1.0,
        ..Faults::default()
    });
    let url = format!("{}/api/v1/users", sim.base_url());
    let resp = get(&url, "bogus").await;
    assert_eq!(resp.status(), 401);
    let t = token(&sim).await;
    let resp = get(&url, &t).await;
    assert_eq!(
        resp.status(),
        429,
        "rate limit comes before injected failure"
    );
    let stats = sim.snapshot().stats;
    assert_eq!((stats.rate_limited, stats.failed_injected), (1, 0));
}

#[tokio::test]
async fn fail_rate_answers_503_without_doing_anything() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    sim.set_faults(faults(|f| f.fail_rate = 1.0));
    let resp = v1_create(&sim, &t, &v1_user("jdoe", &[])).await;
    assert_eq!(resp.status(), 503);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["errors"][0]["code"], "service_unavailable");
    assert!(sim.snapshot().users.is_empty());
    assert_eq!(sim.snapshot().stats.creates, 0);
    // Token calls are never failed.
    assert_eq!(
        token_response(&sim, "sim-client", "sim-secret")
            .await
            .status(),
        200
    );

    sim.set_faults(faults(|f| f.fail_rate = 0.5));
    let url = format!("{}/api/v1/roles", sim.base_url());
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..60 {
        seen.insert(get(&url, &t).await.status().as_u16());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![200, 503]);
    let stats = sim.snapshot().stats;
    assert!(stats.failed_injected > 1);
    assert_eq!(stats.by_status.get("503"), Some(&stats.failed_injected));
}

#[tokio::test]
async fn dropped_create_happens_but_the_client_gets_a_transport_error() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    sim.set_faults(faults(|f| f.drop_next_create_responses = 1));
    let result = client()
        .post(format!("{}/api/v1/users", sim.base_url()))
        .bearer_auth(&t)
        .json(&v1_user("jdoe", &[]))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    let err = result.expect_err("the response must be dropped");
    assert!(!err.is_timeout(), "dropped, not hung: {err}");
    let snap = sim.snapshot();
    assert_eq!(snap.users.len(), 1);
    assert_eq!(snap.users[0].username, "jdoe");
    assert_eq!(snap.stats.dropped_responses, 1);
    assert_eq!(snap.stats.creates, 1);

    // The lookup a careful client makes next finds the user; the next create is answered.
    let found: Value = get_json(format!("{}/api/v1/users?username=jdoe", sim.base_url()), &t).await;
    assert_eq!(found["users"][0]["userId"], snap.users[0].user_id.as_str());
    assert_eq!(
        v1_create(&sim, &t, &v1_user("other", &[])).await.status(),
        201
    );
}

#[tokio::test]
async fn dropped_create_in_the_dashboard_dialect() {
    let sim = start_dashboard().await;
    sim.set_faults(faults(|f| f.drop_next_create_responses = 2));
    for name in ["one", "two"] {
        let result = dash_json(&sim, Method::POST, "/users")
            .json(&dash_user(name))
            .send()
            .await;
        assert!(result.is_err(), "{name} should be dropped");
    }
    let resp = send(dash_json(&sim, Method::POST, "/users").json(&dash_user("three"))).await;
    assert_eq!(resp.status(), 201);
    let snap = sim.snapshot();
    assert_eq!(snap.users.len(), 3);
    assert_eq!(snap.stats.dropped_responses, 2);
}

#[tokio::test]
async fn latency_is_added_to_api_calls_only() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    sim.set_faults(faults(|f| f.latency_ms = 300));
    let started = Instant::now();
    let resp = get(format!("{}/api/v1/roles", sim.base_url()), &t).await;
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let started = Instant::now();
    let resp = control(Method::GET, format!("{}/_sim/state", sim.base_url()), None).await;
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn a_rate_limit_burst_throttles_exactly_the_next_requests() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    sim.set_faults(faults(|f| f.rate_limit_burst = 2));
    let url = format!("{}/api/v1/roles", sim.base_url());
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let resp = get(&url, &t).await;
        if resp.status() == 429 {
            assert!(resp.headers().contains_key("x-ratelimit-reset"));
            assert!(resp.headers().get("retry-after").is_none());
        }
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [429, 429, 200, 200]);
    assert_eq!(sim.snapshot().stats.rate_limited, 2);
}

#[tokio::test]
async fn fail_next_fails_exactly_the_next_requests() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    sim.set_faults(faults(|f| f.fail_next = 2));
    let url = format!("{}/api/v1/roles", sim.base_url());
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&url, &t).await.status().as_u16());
    }
    assert_eq!(statuses, [503, 503, 200, 200]);
    let snap = sim.snapshot();
    assert_eq!(snap.stats.failed_injected, 2);
}

#[tokio::test]
async fn dropped_connections_happen_on_any_request_after_the_work_is_done() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    let created = v1_create(&sim, &t, &v1_user("dropme", &[])).await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["userId"]
        .as_str()
        .unwrap()
        .to_string();
    sim.set_faults(faults(|f| f.drop_rate = 1.0));
    let url = format!("{}/api/v1/users/{id}", sim.base_url());
    let deleted = client().delete(&url).bearer_auth(&t).send().await;
    assert!(deleted.is_err(), "the answer must be lost");
    assert!(sim.snapshot().users.is_empty(), "but the delete happened");
    assert_eq!(sim.snapshot().stats.dropped_responses, 1);
}

#[tokio::test]
async fn latency_spikes_hit_only_their_fraction() {
    let sim = start_v1().await;
    let t = token(&sim).await;
    sim.set_faults(Faults {
        latency_spike_rate: 1.0,
        latency_spike_ms: 300,
        ..Faults::default()
    });
    let url = format!("{}/api/v1/roles", sim.base_url());
    let started = Instant::now();
    get(&url, &t).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    sim.set_faults(Faults {
        latency_spike_rate: 0.0,
        latency_spike_ms: 5000,
        ..Faults::default()
    });
    let started = Instant::now();
    get(&url, &t).await;
    assert!(started.elapsed() < Duration::from_millis(1000));
}
