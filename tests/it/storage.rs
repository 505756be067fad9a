//! The storage interface (`store::trees::OrderedTrees`) holds the same promises on both
//! backends: the same scenarios run on sled and on a real PostgreSQL (see `common::postgres`),
//! and their answers are compared with a plain ordered map and with each other.

use crate::common::postgres::TestSchema;
use signbridge::store::postgres::PgTrees;
use signbridge::store::trees::{Entry, Lease, OrderedTrees, Scan, TxError};
use signbridge::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A sled store in a folder of its own (kept as long as the store is used).
fn sled_trees() -> (tempfile::TempDir, signbridge::store::trees::SledTrees) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store.trees())
}

fn postgres_trees(schema: &TestSchema) -> PgTrees {
    PgTrees::connect(&schema.url, 4).unwrap()
}

/// Keys chosen to catch ordering mistakes: a shared prefix, bytes 0x00 and 0xFF, a key that is
/// a prefix of another.
fn sample_keys() -> Vec<Vec<u8>> {
    vec![
        b"a".to_vec(),
        b"a/".to_vec(),
        b"a/1".to_vec(),
        b"a/2".to_vec(),
        vec![b'a', b'/', 0xFF],
        vec![b'a', b'/', 0x00],
        b"a0".to_vec(),
        b"b/1".to_vec(),
        vec![0xFF, 0xFF],
        vec![0x00],
    ]
}

fn scans() -> Vec<Scan> {
    vec![
        Scan::all(),
        Scan::all().reversed().limit(3),
        Scan::prefix(b"a/"),
        Scan::prefix(b"a/").reversed(),
        Scan::prefix(b"a/").limit(2),
        Scan::prefix(&[0xFF]),
        Scan::prefix(b"zzz"),
        Scan::range(
            Bound::Excluded(b"a/1".to_vec()),
            Bound::Included(b"b/1".to_vec()),
        ),
        Scan::range(
            Bound::Included(b"b".to_vec()),
            Bound::Excluded(b"b".to_vec()),
        ),
        Scan::range(
            Bound::Included(b"c".to_vec()),
            Bound::Included(b"a".to_vec()),
        ),
        Scan::all().limit(0),
    ]
}

/// What `scan` must answer over `model`.
fn expected(model: &BTreeMap<Vec<u8>, Vec<u8>>, scan: &Scan) -> Vec<Entry> {
    let mut entries: Vec<Entry> = model
        .iter()
        .filter(|(key, _)| scan.covers(key))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if scan.reverse {
        entries.reverse();
    }
    entries.truncate(scan.limit.unwrap_or(usize::MAX));
    entries
}

/// Writes the sample keys (and one removal) in one transaction, then reads them back every way;
/// returns every answer, in order, for the backends to be compared.
fn reads_and_scans(trees: &impl OrderedTrees) -> Vec<Vec<Entry>> {
    let mut model = BTreeMap::new();
    for (n, key) in sample_keys().into_iter().enumerate() {
        model.insert(key, format!("value {n}").into_bytes());
    }
    model.remove(b"a0".as_slice());
    trees
        .transaction(&|tx| {
            for (n, key) in sample_keys().iter().enumerate() {
                tx.insert("t", key, format!("value {n}").as_bytes())?;
            }
            tx.remove("t", b"a0")?;
            // Another tree with the same keys stays apart.
            tx.insert("other", b"a/1", b"elsewhere")?;
            Ok(())
        })
        .unwrap();
    trees.flush().unwrap();
    let mut answers = Vec::new();
    for key in sample_keys() {
        assert_eq!(
            trees.get("t", &key).unwrap(),
            model.get(&key).cloned(),
            "{key:?}"
        );
    }
    assert_eq!(
        trees.get("other", b"a/1").unwrap(),
        Some(b"elsewhere".to_vec())
    );
    assert_eq!(trees.get("missing tree", b"a").unwrap(), None);
    for scan in scans() {
        let found = trees.scan("t", &scan).unwrap();
        assert_eq!(found, expected(&model, &scan), "{scan:?}");
        answers.push(found);
    }
    answers
}

#[test]
fn both_backends_read_and_scan_in_byte_order() {
    let (_dir, sled) = sled_trees();
    let schema = TestSchema::new();
    let postgres = postgres_trees(&schema);
    assert_eq!(reads_and_scans(&sled), reads_and_scans(&postgres));
}

/// A run's reads see its own writes, scans included, before anything is committed; nothing is
/// visible outside until it commits.
fn reads_its_own_writes(trees: &impl OrderedTrees) {
    trees
        .transaction(&|tx| {
            for key in ["k1", "k2", "k3", "k4"] {
                tx.insert("t", key.as_bytes(), b"committed")?;
            }
            Ok(())
        })
        .unwrap();
    let seen = trees
        .transaction(&|tx| {
            tx.remove("t", b"k1")?;
            tx.insert("t", b"k2", b"changed")?;
            tx.insert("t", b"k5", b"new")?;
            let got = tx.get("t", b"k1")?;
            let first_two = tx.scan("t", &Scan::prefix(b"k").limit(2))?;
            let last = tx.scan("t", &Scan::prefix(b"k").reversed().limit(1))?;
            Ok((got, first_two, last))
        })
        .unwrap();
    assert_eq!(seen.0, None);
    assert_eq!(
        seen.1,
        vec![
            (b"k2".to_vec(), b"changed".to_vec()),
            (b"k3".to_vec(), b"committed".to_vec())
        ]
    );
    assert_eq!(seen.2, vec![(b"k5".to_vec(), b"new".to_vec())]);
    assert_eq!(trees.get("t", b"k5").unwrap(), Some(b"new".to_vec()));
}

#[test]
fn a_transaction_reads_its_own_writes_on_both_backends() {
    let (_dir, sled) = sled_trees();
    reads_its_own_writes(&sled);
    let schema = TestSchema::new();
    reads_its_own_writes(&postgres_trees(&schema));
}

/// A committed run is seen; a run whose work fails writes nothing, in any tree.
fn an_abort_writes_nothing(trees: &impl OrderedTrees) {
    trees
        .transaction(&|tx| {
            tx.insert("t", b"kept", b"1")?;
            Ok(())
        })
        .unwrap();
    assert_eq!(trees.get("t", b"kept").unwrap(), Some(b"1".to_vec()));
    let refused = trees.transaction(&|tx| {
        // A read first, so that the transaction has begun on the server when it is refused.
        assert_eq!(tx.get("t", b"kept")?, Some(b"1".to_vec()));
        tx.insert("t", b"kept", b"2")?;
        tx.insert("u", b"new", b"2")?;
        tx.remove("t", b"kept")?;
        Err::<(), _>(TxError::Failed(StoreError::Changed))
    });
    assert!(matches!(refused, Err(StoreError::Changed)), "{refused:?}");
    assert_eq!(trees.get("t", b"kept").unwrap(), Some(b"1".to_vec()));
    assert_eq!(trees.get("u", b"new").unwrap(), None);
}

#[test]
fn an_aborted_transaction_writes_nothing_on_both_backends() {
    let (_dir, sled) = sled_trees();
    an_abort_writes_nothing(&sled);
    let schema = TestSchema::new();
    let postgres = postgres_trees(&schema);
    an_abort_writes_nothing(&postgres);
    // The refused run was rolled back, not left open on its connection.
    assert_eq!(crate::common::postgres::sessions_in_transaction(&schema), 0);
}

/// Threads that each read a counter and write it plus one, many times over, lose no update,
/// and their own keys all land.
fn no_lost_updates(trees: Arc<impl OrderedTrees + 'static>) {
    const THREADS: usize = 6;
    const EACH: usize = 20;
    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let trees = trees.clone();
            std::thread::spawn(move || {
                for n in 0..EACH {
                    trees
                        .transaction(&|tx| {
                            let count = tx
                                .get("t", b"counter")?
                                .map(|v| u64::from_be_bytes(v.try_into().unwrap()))
                                .unwrap_or(0);
                            tx.insert("t", b"counter", &(count + 1).to_be_bytes())?;
                            tx.insert("t", format!("w/{thread}/{n:02}").as_bytes(), b"")?;
                            Ok(())
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    trees.flush().unwrap();
    let counter = trees.get("t", b"counter").unwrap().unwrap();
    assert_eq!(
        u64::from_be_bytes(counter.try_into().unwrap()),
        (THREADS * EACH) as u64
    );
    assert_eq!(
        trees.scan("t", &Scan::prefix(b"w/")).unwrap().len(),
        THREADS * EACH
    );
}

#[test]
fn concurrent_read_modify_writes_lose_no_update_on_both_backends() {
    let (_dir, sled) = sled_trees();
    no_lost_updates(Arc::new(sled));
    let schema = TestSchema::new();
    no_lost_updates(Arc::new(postgres_trees(&schema)));
}

/// On PostgreSQL a conflict is real: a run that read a key another transaction then changed
/// is refused at its write and run again on what that one committed.
#[test]
fn a_postgres_transaction_that_meets_a_conflict_runs_again_on_the_new_value() {
    let schema = TestSchema::new();
    let trees = postgres_trees(&schema);
    let replica = postgres_trees(&schema);
    trees.transaction(&|tx| tx.insert("t", b"n", b"1")).unwrap();
    let runs = AtomicU32::new(0);
    let seen = trees
        .transaction(&|tx| {
            let run = runs.fetch_add(1, Ordering::SeqCst);
            let n = tx.get("t", b"n")?.unwrap();
            if run == 0 {
                // Another replica changes the key after this run read it.
                replica
                    .transaction(&|other| other.insert("t", b"n", b"10"))
                    .unwrap();
            }
            let next = String::from_utf8(n.clone())
                .unwrap()
                .parse::<u32>()
                .unwrap()
                + 1;
            tx.insert("t", b"n", next.to_string().as_bytes())?;
            Ok(n)
        })
        .unwrap();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the first run must be refused"
    );
    assert_eq!(seen, b"10".to_vec());
    assert_eq!(trees.get("t", b"n").unwrap(), Some(b"11".to_vec()));
}

/// A session lost in the middle of a transaction (begun on the server by a read) fails that
/// transaction whole: its writes are not sent on a new session outside it. The next
/// transaction reconnects.
#[test]
fn a_postgres_session_lost_mid_transaction_fails_it_whole_and_the_next_reconnects() {
    let schema = TestSchema::new();
    let trees = PgTrees::connect(&schema.url, 1).unwrap();
    let lost = trees.transaction(&|tx| {
        tx.insert("t", b"before", b"")?;
        // A read begins the transaction on the server, before the session is lost.
        assert_eq!(tx.get("t", b"next")?, None);
        crate::common::postgres::terminate_sessions(&schema);
        // The next statement finds the session gone; work that ignored that error and went on
        // must still not get its writes committed on a new session.
        assert!(tx.get("t", b"probe").is_err());
        tx.insert("t", b"after", b"")?;
        Ok(())
    });
    assert!(lost.is_err(), "{lost:?}");
    trees
        .transaction(&|tx| tx.insert("t", b"next", b""))
        .unwrap();
    assert_eq!(trees.get("t", b"next").unwrap(), Some(Vec::new()));
    assert_eq!(trees.get("t", b"before").unwrap(), None);
    assert_eq!(trees.get("t", b"after").unwrap(), None);
}

#[test]
fn replicas_starting_together_migrate_the_schema_once() {
    let schema = TestSchema::new();
    let replicas: Vec<_> = (0..3)
        .map(|_| {
            let url = schema.url.clone();
            std::thread::spawn(move || PgTrees::connect(&url, 1))
        })
        .collect();
    let replicas: Vec<PgTrees> = replicas
        .into_iter()
        .map(|r| r.join().unwrap().unwrap())
        .collect();
    replicas[0]
        .transaction(&|tx| tx.insert("t", b"from 0", b""))
        .unwrap();
    assert_eq!(replicas[2].get("t", b"from 0").unwrap(), Some(Vec::new()));
    let applied = std::thread::spawn({
        let url = schema.url.clone();
        move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let rows = client
                .query(
                    "SELECT version FROM signbridge_migrations ORDER BY version",
                    &[],
                )
                .unwrap();
            rows.iter()
                .map(|row| row.get::<_, i32>(0))
                .collect::<Vec<_>>()
        }
    })
    .join()
    .unwrap();
    assert_eq!(applied, vec![1, 2], "each migration applied once");
}

#[test]
fn a_wrong_or_unreachable_database_is_a_clear_error() {
    let garbled = PgTrees::connect("postgres://:not a port/x", 1).unwrap_err();
    assert!(garbled.to_string().contains("bad URL"), "{garbled}");
    // A loopback port nothing listens on.
    let port = crate::common::free_port();
    let unreachable =
        PgTrees::connect(&format!("postgres://postgres@127.0.0.1:{port}/x"), 1).unwrap_err();
    assert!(
        unreachable.to_string().starts_with("PostgreSQL"),
        "{unreachable}"
    );
}

/// A sled store made through the API — envelopes drafted, sent, voided and expired, with their
/// documents, events, outboxes and indexes — copies into PostgreSQL entry for entry: every tree
/// reads back byte for byte (so every field of every record), every blob whole; a second copy
/// into the same database is refused and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_store_copies_into_postgres_entry_for_entry() {
    use crate::common::expect_status;
    use crate::common::inprocess::InProcess;
    use serde_json::json;
    use signbridge::esign::model::{Envelope, EnvelopeStatus};

    let app = InProcess::start(signbridge::config::Config::default()).await;
    let sent = app.create_and_send(json!({})).await;
    let voided = app.create_and_send(json!({})).await;
    let expires = (app.clock.now_for_test() + chrono::Duration::days(1)).to_rfc3339();
    let expiring = app.create_and_send(json!({ "expiresAt": expires })).await;
    let draft = expect_status(
        app.http
            .post(app.url("/envelopes"))
            .bearer_auth(&app.key)
            .json(&json!({
                "subject": "Draft",
                "documentIds": [sent["documents"][0]["id"]],
                "recipients": [{"email": "c@example.com", "name": "Carol"}],
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    expect_status(
        app.http
            .delete(app.url(&format!("/envelopes/{}", voided["id"].as_str().unwrap())))
            .bearer_auth(&app.key)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    app.clock.advance(chrono::Duration::days(2));
    app.tick();
    assert_eq!(
        app.envelope(expiring["id"].as_str().unwrap()).await["status"],
        "EXPIRED"
    );

    let schema = TestSchema::new();
    let esign = app.esign.clone();
    let url = schema.url.clone();
    tokio::task::spawn_blocking(move || {
        let store = esign.store();
        let target = PgTrees::connect(&url, 2).unwrap();
        let report = store.copy_into(&target).unwrap();
        // The three sent envelopes share their document's bytes: one blob, counted once.
        let blob_refs = report.trees.iter().find(|t| t.tree == "blob_refs").unwrap();
        assert_eq!(report.blobs, blob_refs.entries, "{report:?}");

        // Every non-empty tree of the store, byte for byte.
        let trees = store.every_tree().unwrap();
        // Every non-empty tree of the store reads back from PostgreSQL as it is; how many.
        let same_trees = || {
            let mut compared = 0;
            for (name, entries) in trees.iter().filter(|(_, e)| !e.is_empty()) {
                let name = String::from_utf8(name.clone()).unwrap();
                assert_eq!(
                    &target.scan(&name, &Scan::all()).unwrap(),
                    entries,
                    "{name}"
                );
                compared += 1;
            }
            compared
        };
        assert_eq!(same_trees(), report.trees.len());
        assert_eq!(target.tree_names().unwrap().len(), report.trees.len());

        // The envelopes, decoded from PostgreSQL's bytes, in each state they were left in.
        let mut statuses: Vec<(String, EnvelopeStatus)> = target
            .scan("envelopes", &Scan::all())
            .unwrap()
            .iter()
            .map(|(_, v)| {
                let envelope: Envelope = signbridge::store::decode(v).unwrap();
                (envelope.id, envelope.status)
            })
            .collect();
        statuses.sort_by(|a, b| a.0.cmp(&b.0));
        let mut expected = vec![
            (
                sent["id"].as_str().unwrap().to_string(),
                EnvelopeStatus::Sent,
            ),
            (
                voided["id"].as_str().unwrap().to_string(),
                EnvelopeStatus::Voided,
            ),
            (
                expiring["id"].as_str().unwrap().to_string(),
                EnvelopeStatus::Expired,
            ),
            (
                draft["id"].as_str().unwrap().to_string(),
                EnvelopeStatus::Draft,
            ),
        ];
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(statuses, expected);

        // Every blob, whole.
        for sha256 in target.blob_names().unwrap() {
            assert_eq!(
                target.get_blob(&sha256).unwrap(),
                store.blobs.get(&sha256).unwrap()
            );
        }

        let again = store.copy_into(&target).unwrap_err();
        assert!(again.to_string().contains("already holds data"), "{again}");
        same_trees();
    })
    .await
    .unwrap();
}

/// A lease has one holder at a time among everyone sharing the store, and is free again once
/// given up.
fn one_holder_per_lease(first: &impl OrderedTrees, second: &impl OrderedTrees) {
    let held = first
        .try_lease("source:bamboohr")
        .unwrap()
        .expect("a free lease");
    assert!(held.still_held());
    assert!(second.try_lease("source:bamboohr").unwrap().is_none());
    let other = second.try_lease("source:hubspot").unwrap();
    assert!(other.is_some(), "another name is another lease");
    drop(held);
    let taken_over = second.try_lease("source:bamboohr").unwrap();
    assert!(taken_over.is_some_and(|lease| lease.still_held()));
}

#[test]
fn a_lease_has_one_holder_at_a_time_on_both_backends() {
    let (_dir, sled) = sled_trees();
    one_holder_per_lease(&sled, &sled.clone());
    let schema = TestSchema::new();
    one_holder_per_lease(&postgres_trees(&schema), &postgres_trees(&schema));
}

/// A replica whose PostgreSQL session dies loses its lease (and can tell), and another replica
/// takes it over.
#[test]
fn a_postgres_lease_passes_to_another_replica_when_its_holder_dies() {
    let schema = TestSchema::new();
    let (first, second) = (postgres_trees(&schema), postgres_trees(&schema));
    let held = first
        .try_lease("source:personio")
        .unwrap()
        .expect("a free lease");
    assert!(second.try_lease("source:personio").unwrap().is_none());
    crate::common::postgres::terminate_sessions(&schema);
    assert!(!held.still_held());
    let taken_over = second.try_lease("source:personio").unwrap();
    assert!(taken_over.is_some_and(|lease| lease.still_held()));
}

/// What the domain sees of one tree ([`signbridge::store::Tree`]), driven through every call it
/// makes, more keys than a PostgreSQL scan reads per page: every answer, in order, for the
/// backends to be compared.
fn tree_answers(store: &Store) -> Vec<String> {
    use signbridge::store::{Batch, ConflictableTransactionError, TreeGroup, TxTree};
    let tree = &store.meta;
    let other = &store.listing;
    let mut answers = Vec::new();
    let mut note = |what: &str, answer: String| answers.push(format!("{what}: {answer}"));
    fn keys(
        entries: impl Iterator<
            Item = Result<(signbridge::store::Bytes, signbridge::store::Bytes), StoreError>,
        >,
    ) -> Vec<String> {
        entries
            .map(|entry| String::from_utf8(entry.unwrap().0.to_vec()).unwrap())
            .collect()
    }

    note("empty", format!("{:?}", tree.is_empty().unwrap()));
    let count = 3 * signbridge::store::tree::PAGE + 17;
    for n in 0..count {
        tree.insert(format!("k/{n:04}"), format!("v{n}")).unwrap();
    }
    tree.insert(b"j", b"before").unwrap();
    tree.insert(b"l", b"after").unwrap();
    note("get", format!("{:?}", tree.get(b"k/0007").unwrap()));
    note("get missing", format!("{:?}", tree.get(b"k/9999").unwrap()));
    note(
        "contains",
        format!("{:?}", tree.contains_key(b"j").unwrap()),
    );
    tree.remove(b"k/0003").unwrap();
    tree.remove(b"never there").unwrap();
    note("removed", format!("{:?}", tree.get(b"k/0003").unwrap()));
    let swapped = tree
        .compare_and_swap(b"k/0004", Some(b"v4".as_slice()), Some(b"four".as_slice()))
        .unwrap();
    let refused = tree
        .compare_and_swap(b"k/0004", Some(b"v4".as_slice()), Some(b"again".as_slice()))
        .unwrap();
    let created = tree
        .compare_and_swap(b"new", None, Some(b"1".as_slice()))
        .unwrap();
    let deleted = tree
        .compare_and_swap(b"new", Some(b"1".as_slice()), None)
        .unwrap();
    note("cas", format!("{swapped} {refused} {created} {deleted}"));
    assert!(swapped && !refused && created && deleted);
    let mut batch = Batch::default();
    batch.insert(b"k/0005", b"five");
    batch.remove(b"k/0006");
    batch.insert(b"m", b"batched");
    tree.apply_batch(batch).unwrap();
    note(
        "batch",
        format!(
            "{:?}",
            (
                tree.get(b"k/0005").unwrap(),
                tree.get(b"k/0006").unwrap(),
                tree.get(b"m").unwrap()
            )
        ),
    );
    note("len", format!("{}", tree.len().unwrap()));
    note("first", format!("{:?}", tree.first().unwrap()));
    note("last", format!("{:?}", tree.last().unwrap()));

    let all = keys(tree.iter());
    assert_eq!(all.len(), tree.len().unwrap());
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "iter is in key order");
    note("iter", all.join(","));
    let mut reversed = keys(tree.iter().rev());
    reversed.reverse();
    assert_eq!(reversed, all, "iter().rev() is the same keys backwards");
    let prefixed = keys(tree.scan_prefix(b"k/02"));
    assert_eq!(prefixed.len(), 100);
    note("prefix", prefixed.join(","));
    note(
        "range",
        keys(tree.range(b"k/0100".to_vec()..b"k/0400".to_vec())).join(","),
    );
    note(
        "range rev",
        keys(tree.range(b"k/0100".to_vec()..=b"k/0700".to_vec()).rev()).join(","),
    );
    note(
        "empty range",
        keys(tree.range(b"k/05".to_vec()..b"k/04".to_vec())).join(","),
    );
    // Both ends at once hand out every key once, meeting wherever the reads take them: taking
    // turns, and one end read far (past a page) before the other takes the rest.
    let in_order = keys(tree.scan_prefix(b"k/"));
    let patterns: [&dyn Fn(usize) -> bool; 4] = [
        &|step| step % 3 == 0,
        &|step| step >= 300,
        &|step| step < 300,
        &|step| step % 2 == 1,
    ];
    for (number, from_the_back) in patterns.iter().enumerate() {
        let mut both_ends = tree.scan_prefix(b"k/");
        let (mut low, mut high) = (Vec::new(), Vec::new());
        for step in 0.. {
            let back = from_the_back(step);
            let next = if back {
                both_ends.next_back()
            } else {
                both_ends.next()
            };
            let Some(entry) = next else { break };
            let key = String::from_utf8(entry.unwrap().0.to_vec()).unwrap();
            if back {
                high.push(key)
            } else {
                low.push(key)
            }
        }
        high.reverse();
        low.extend(high);
        assert_eq!(low, in_order, "both ends of a scan, pattern {number}");
    }
    note(
        "values",
        tree.scan_prefix(b"k/001")
            .values()
            .map(|v| String::from_utf8(v.unwrap().to_vec()).unwrap())
            .collect::<Vec<_>>()
            .join(","),
    );

    // A transaction over two trees: reads see its writes; an abort writes nothing.
    let seen = (tree, other)
        .transaction(&|(t, o): &(TxTree<'_>, TxTree<'_>)| {
            t.insert(b"tx", b"1")?;
            o.insert(b"tx", b"2")?;
            t.remove(b"j")?;
            Ok((t.get(b"tx")?, o.get(b"tx")?, t.get(b"j")?))
        })
        .unwrap();
    note("tx", format!("{seen:?}"));
    let refused = (tree, other).transaction(&|(t, o): &(TxTree<'_>, TxTree<'_>)| {
        t.insert(b"tx", b"changed")?;
        o.remove(b"tx")?;
        Err::<(), _>(ConflictableTransactionError::Abort(StoreError::Changed))
    });
    assert!(matches!(refused, Err(StoreError::Changed)), "{refused:?}");
    note(
        "after abort",
        format!(
            "{:?}",
            (
                tree.get(b"tx").unwrap(),
                other.get(b"tx").unwrap(),
                tree.get(b"j").unwrap()
            )
        ),
    );
    other.clear().unwrap();
    note(
        "cleared",
        format!("{:?} {:?}", other.is_empty().unwrap(), other.len().unwrap()),
    );
    answers
}

/// The domain's view of a tree answers the same on sled and on PostgreSQL, call for call.
#[test]
fn a_store_tree_answers_the_same_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let sled = Store::open(dir.path()).unwrap();
    let schema = TestSchema::new();
    let postgres = Store::open_postgres(&schema.url, 4).unwrap();
    assert!(postgres.postgres().is_some() && sled.postgres().is_none());
    let on_sled = tree_answers(&sled);
    let on_postgres = tree_answers(&postgres);
    assert_eq!(on_sled.len(), on_postgres.len());
    for (sled_answer, postgres_answer) in on_sled.iter().zip(&on_postgres) {
        assert_eq!(sled_answer, postgres_answer);
    }
}
