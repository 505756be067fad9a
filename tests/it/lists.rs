//! Envelope and document lists on the listing index: the same items in the same order as a
//! scan of every record would give, totals per status, the `after` cursor, through kill -9
//! and after `signbridge reindex` rebuilds the index from the records.

use crate::common::*;
use serde_json::{json, Value};

async fn list(server: &Server, query: &str) -> Value {
    expect_status(
        server
            .get(&format!("/envelopes{query}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every list the index answers, compared with what the envelopes themselves say.
async fn check_lists(server: &Server, expected: &[(String, String)]) {
    // Newest first, all of them, page by page.
    let newest_first: Vec<String> = expected.iter().rev().map(|(id, _)| id.clone()).collect();
    let mut seen = Vec::new();
    for page in 1..=4 {
        let answer = list(server, &format!("?limit=7&page={page}")).await;
        assert_eq!(answer["pagination"]["total"], expected.len(), "{answer}");
        seen.extend(ids(&answer));
    }
    assert_eq!(seen, newest_first);
    // By status: each one's total and order.
    for status in ["DRAFT", "SENT", "VOIDED", "COMPLETED"] {
        let want: Vec<String> = expected
            .iter()
            .rev()
            .filter(|(_, s)| s == status)
            .map(|(id, _)| id.clone())
            .collect();
        let answer = list(server, &format!("?status={status}&limit=100")).await;
        assert_eq!(
            answer["pagination"]["total"],
            want.len(),
            "{status}: {answer}"
        );
        assert_eq!(ids(&answer), want, "{status}");
        let second_page = list(server, &format!("?status={status}&limit=2&page=2")).await;
        let want_second: Vec<String> = want.iter().skip(2).take(2).cloned().collect();
        assert_eq!(ids(&second_page), want_second, "{status} page 2");
        for envelope in answer["data"].as_array().unwrap() {
            assert_eq!(envelope["status"], status);
        }
    }
    // The cursor: after the 5th envelope come exactly the ones page 2 (of 5) shows.
    let first = list(server, "?limit=5").await;
    let second = list(server, "?limit=5&page=2").await;
    let last_of_first = ids(&first)[4].clone();
    let after = list(server, &format!("?limit=5&after={last_of_first}")).await;
    assert_eq!(ids(&after), ids(&second));
    let sent_first = list(server, "?status=SENT&limit=2").await;
    let sent_rest = list(
        server,
        &format!("?status=SENT&limit=100&after={}", ids(&sent_first)[1]),
    )
    .await;
    let all_sent = list(server, "?status=SENT&limit=100").await;
    assert_eq!(ids(&sent_rest), ids(&all_sent)[2..].to_vec());
}

/// The 20 documents: their total, and every page of 3 is the matching slice of one page of all.
async fn check_documents(server: &Server) {
    let all = expect_status(
        server.get("/documents?limit=100").send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(all["pagination"]["total"], 20, "{all}");
    let all = ids(&all);
    for page in 1..=7 {
        let answer = expect_status(
            server
                .get(&format!("/documents?limit=3&page={page}"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let want: Vec<String> = all.iter().skip((page - 1) * 3).take(3).cloned().collect();
        assert_eq!(ids(&answer), want, "documents page {page}");
    }
}

#[tokio::test]
async fn lists_answer_from_the_index_exactly_as_the_records_say_through_kill_9_and_reindex() {
    let mut server = Server::start_unthrottled().await;
    let mut expected: Vec<(String, String)> = Vec::new();
    for n in 0..20 {
        let envelope = server.draft_envelope(&format!("Contract {n}")).await;
        expected.push((envelope["id"].as_str().unwrap().to_string(), "DRAFT".into()));
    }
    for index in [1, 3, 5, 7, 9, 11, 13, 15] {
        let id = expected[index].0.clone();
        server.send(&id).await;
        expected[index].1 = "SENT".into();
    }
    for index in [3, 9] {
        let id = expected[index].0.clone();
        expect_status(
            server
                .delete(&format!("/envelopes/{id}"))
                .json(&json!({"reason": "replaced"}))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        expected[index].1 = "VOIDED".into();
    }
    for index in [0, 19] {
        let id = expected[index].0.clone();
        expect_status(
            server
                .delete(&format!("/envelopes/{id}"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
    }
    let deleted = [0usize, 19];
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !deleted.contains(i))
        .map(|(_, e)| e)
        .collect();
    check_lists(&server, &expected).await;
    check_documents(&server).await;

    // The index is written with the records: kill -9 loses none of it.
    server.kill9();
    server.start_again().await;
    check_lists(&server, &expected).await;

    // Rebuilt from the records by the operator's command, it answers the same.
    server.terminate();
    let data_dir = server.data_dir();
    let (status, stdout, stderr) =
        server.cli(&["reindex", "--data-dir", data_dir.to_str().unwrap()]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("18 envelope(s)"), "{stdout}");
    server.start_again().await;
    check_lists(&server, &expected).await;
    check_documents(&server).await;

    // Indexes of the earlier versions — counts per list (`envelopes`, `envelopes/{STATUS}`,
    // `documents`) as a u64 each, with time buckets in the second version and none in the first
    // — get their counts made again at open, from their keys, and answer the same; what they
    // hold then is exactly what a rebuild from the records writes.
    server.terminate();
    let rebuilt = count_records(&signbridge::store::Store::open(&data_dir).unwrap());
    // The first case is a rollback: an older binary ran on a store the current one had
    // indexed, rewrote the counts its way and added its marker beside the current one.
    for (version, with_buckets, rolled_back) in [
        ("listing_index_v2", true, true),
        ("listing_index_v2", true, false),
        ("listing_index_v1", false, false),
    ] {
        write_earlier_index(&data_dir, version, with_buckets, rolled_back);
        if version == "listing_index_v1" {
            // Status keys of no status (a damaged index) are passed over, not counted, and one
            // whose status is too long for a count slot does not stop the store from opening.
            let store = signbridge::store::Store::open(&data_dir).unwrap();
            for status in ["BOGUS".to_string(), "X".repeat(300)] {
                let key = format!("s/test/{status}/env_01JD5Q9M3V0F8W2K7T4R6Y1ZXC");
                store.listing.insert(key.as_bytes(), &[] as &[u8]).unwrap();
            }
            store.flush_blocking().unwrap();
        }
        server.start_again().await;
        check_lists(&server, &expected).await;
        check_documents(&server).await;
        server.terminate();
        let store = signbridge::store::Store::open(&data_dir).unwrap();
        assert!(store.meta.get(b"listing_index_v3").unwrap().is_some());
        assert!(store.meta.get(version.as_bytes()).unwrap().is_none());
        assert_eq!(count_records(&store), rebuilt, "{version}");
    }
    server.start_again().await;
    // A cursor that is not an envelope id is a 400.
    expect_error(
        server
            .get("/envelopes?after=doc_01JD5Q9M3V0F8W2K7T4R6Y1ZXC")
            .send()
            .await
            .unwrap(),
        400,
        "validation_failed",
    )
    .await;
}

/// The listing index's count records (totals and time buckets), as stored.
fn count_records(store: &signbridge::store::Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    store
        .listing
        .iter()
        .map(Result::unwrap)
        .filter(|(key, _)| key.starts_with(b"c/") || key.starts_with(b"b/"))
        .map(|(key, value)| (key.to_vec(), value.to_vec()))
        .collect()
}

/// Rewrites the store's count records in the layout of an earlier index version: one record per
/// list and bucket holding a u64 (the list `envelopes` and each `envelopes/{STATUS}` apart), time
/// buckets only `with_buckets`, and that version's meta key — in place of the current one, or
/// beside it when the older binary `rolled_back` onto a store the current one had indexed.
fn write_earlier_index(
    data_dir: &std::path::Path,
    version: &str,
    with_buckets: bool,
    rolled_back: bool,
) {
    let store = signbridge::store::Store::open(data_dir).unwrap();
    let mut batch = signbridge::store::Batch::default();
    for (key, value) in count_records(&store) {
        batch.remove(key.clone());
        // A current record: `c/{env}/{family}` or `b/{env}/{family}/{level}/{prefix}`, its value
        // slots of (name length, name, u64); the empty name is the family's only slot.
        let text = String::from_utf8(key.clone()).unwrap();
        let mut parts = text.splitn(4, '/');
        let (kind, environment, family) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let rest = parts.next();
        if kind == "b" && !with_buckets {
            continue;
        }
        let old_key = |list: &str| match rest {
            Some(rest) => format!("{kind}/{environment}/{list}/{rest}"),
            None => format!("{kind}/{environment}/{list}"),
        };
        let mut sum = 0u64;
        let mut slots = value.as_slice();
        while let Some((&length, after)) = slots.split_first() {
            let length = usize::from(length);
            let name = std::str::from_utf8(&after[..length]).unwrap();
            let count = u64::from_be_bytes(after[length..length + 8].try_into().unwrap());
            sum += count;
            if !name.is_empty() {
                batch.insert(
                    old_key(&format!("{family}/{name}")).as_bytes(),
                    count.to_be_bytes(),
                );
            }
            slots = &after[length + 8..];
        }
        batch.insert(old_key(family).as_bytes(), sum.to_be_bytes());
    }
    store.listing.apply_batch(batch).unwrap();
    if !rolled_back {
        assert!(store.meta.contains_key(b"listing_index_v3").unwrap());
        store.meta.remove(b"listing_index_v3").unwrap();
    }
    store.meta.insert(version.as_bytes(), [1u8]).unwrap();
    store.flush_blocking().unwrap();
}
