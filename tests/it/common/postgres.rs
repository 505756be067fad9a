//! The PostgreSQL the tests use: the server `.ci/postgres` starts (on 127.0.0.1:54329), or the
//! one `SIGNBRIDGE_TEST_POSTGRES` names. Each test gets a schema of its own, dropped with it,
//! so tests run side by side in one database.

use std::sync::atomic::{AtomicU64, Ordering};

/// Where `.ci/postgres` starts the test server.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:54329/signbridge_test";

/// The test server's URL.
pub fn server_url() -> String {
    std::env::var("SIGNBRIDGE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// A schema of its own on the test server; dropped (with everything in it) when this is.
pub struct TestSchema {
    pub name: String,
    /// The server's URL with this schema as the search path: what signbridge is given.
    pub url: String,
}

impl TestSchema {
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "t{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos()
        );
        let server = server_url();
        admin(&server, &format!("CREATE SCHEMA {name}"));
        let separator = if server.contains('?') { '&' } else { '?' };
        // The schema's name is also the sessions' application name, so a test can find them.
        let url =
            format!("{server}{separator}options=-c%20search_path%3D{name}&application_name={name}");
        Self { name, url }
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        admin(
            &server_url(),
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
    }
}

/// Ends every session of `schema` on the server, as a crash of PostgreSQL's side would, and
/// returns once they have ended.
pub fn terminate_sessions(schema: &TestSchema) {
    admin(
        &server_url(),
        &format!(
            // With a timeout, the call returns once each session has ended (its locks given up).
            "SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity \
             WHERE application_name = '{}'",
            schema.name
        ),
    );
}

/// How many sessions of `schema` sit inside a transaction (one left open would hold its locks
/// and snapshot until the session ends).
pub fn sessions_in_transaction(schema: &TestSchema) -> i64 {
    let (server, name) = (server_url(), schema.name.clone());
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&server, postgres::NoTls).unwrap();
        client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = $1 AND state LIKE 'idle in transaction%'",
                &[&name],
            )
            .unwrap()
            .get(0)
    })
    .join()
    .unwrap()
}

/// Runs `sql` on the test server from a thread of its own (the client must not run inside an
/// async runtime), panicking with the way to start one when there is none.
fn admin(server: &str, sql: &str) {
    let (server, sql) = (server.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let mut client =
            postgres::Client::connect(&server, postgres::NoTls).unwrap_or_else(|err| {
                panic!(
                    "the PostgreSQL tests need a server at {server} ({err}): `bash .ci/postgres` \
                 starts one, or set SIGNBRIDGE_TEST_POSTGRES"
                )
            });
        client.batch_execute(&sql).unwrap();
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

/// The single number `sql` answers in `schema` (a count, say).
pub fn number(schema: &TestSchema, sql: &str) -> i64 {
    let (url, sql) = (schema.url.clone(), sql.to_string());
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client.query_one(&sql, &[]).unwrap().get(0)
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
