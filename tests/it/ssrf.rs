//! The SSRF guard at subscription time: webhook URLs whose host is an IPv6 form that carries an
//! IPv4 address (NAT64, IPv4-mapped and -compatible, 6to4, Teredo) or a special-purpose range
//! are refused with the contract's `url_rejected`, and nothing is stored. Nothing here connects
//! anywhere: every URL is an IP literal refused before a subscription exists.

use crate::common::*;
use serde_json::{json, Value};

/// Refused by the embedded default (loopback allowed, private networks not).
const REFUSED: &[&str] = &[
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b::a00:1]/",
    "http://[64:ff9b:1::a9fe:a9fe]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://[2001:0:4136:e378:8000:63bf:5601:5601]/",
    "http://[fec0::1]/",
    "http://192.0.0.170/",
    "http://[100::1]/",
];

/// Subscribes `url` and expects the contract's refusal.
async fn expect_refused(server: &Server, url: &str) {
    let response = server
        .post("/webhooks")
        .json(&json!({"url": url, "events": ["envelope.completed"]}))
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 400, "url_rejected").await;
    assert_eq!(
        body["error"], "URL rejected: private or loopback address",
        "{url}"
    );
}

async fn listed_urls(server: &Server) -> Vec<Value> {
    let listed = expect_status(server.get("/webhooks").send().await.unwrap(), 200).await;
    listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hook| hook["url"].clone())
        .collect()
}

#[tokio::test]
async fn ipv4_in_ipv6_and_special_purpose_urls_are_refused() {
    let server = Server::start().await;
    // One allowed subscription, so the list below is not empty by accident.
    let allowed = "http://127.0.0.1:9/hook";
    let response = server
        .post("/webhooks")
        .json(&json!({"url": allowed, "events": ["envelope.completed"]}))
        .send()
        .await
        .unwrap();
    expect_status(response, 201).await;
    for url in REFUSED {
        expect_refused(&server, url).await;
    }
    assert_eq!(
        listed_urls(&server).await,
        vec![json!(allowed)],
        "no refused URL was stored"
    );
}

#[tokio::test]
async fn tunnels_and_reserved_ranges_are_refused_even_with_private_networks_allowed() {
    let server = Server::start_with_config(Some(
        "webhooks:\n  allow_loopback: true\n  allow_private: true\n",
    ))
    .await;
    // An IPv4-mapped address is plain IPv4: 169.254.169.254 is a private (link-local) address,
    // which this operator allows. Every other one is refused whatever the policy.
    for url in REFUSED
        .iter()
        .filter(|url| **url != "http://[::ffff:a9fe:a9fe]/")
    {
        expect_refused(&server, url).await;
    }
    assert_eq!(
        listed_urls(&server).await,
        Vec::<Value>::new(),
        "nothing was stored"
    );
}
