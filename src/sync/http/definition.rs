//! The schema of a declarative connector (`connectors/<name>.yaml`), after Airbyte's low-code
//! vocabulary: base URL, authenticator, streams (request, paginator, selector, primary key,
//! incremental cursor, hydration), write-back steps, throttling and inbound-webhook checks.
//! String values are handlebars templates over `config` (the source's settings), `cursor`,
//! `page`, `record`, `file` and earlier steps' captures.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A whole connector definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// What the system is, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// The settings a source of this kind takes (`sources.<name>.settings`).
    #[serde(default)]
    pub settings: BTreeMap<String, SettingSpec>,
    /// The API's base URL (a template; `sources.<name>.base_url` overrides it).
    pub base_url: String,
    pub auth: Auth,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub throttle: Throttle,
    #[serde(default)]
    pub errors: ErrorClasses,
    pub streams: BTreeMap<String, Stream>,
    #[serde(default)]
    pub writeback: Option<WriteBackSpec>,
    #[serde(default)]
    pub inbound: Option<Inbound>,
}

/// One setting of the connector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingSpec {
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// How requests are authenticated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum Auth {
    None,
    Basic {
        username: String,
        #[serde(default)]
        password: String,
    },
    Bearer {
        token: String,
    },
    ApiKey {
        /// `header` or `query`.
        #[serde(rename = "in")]
        location: KeyLocation,
        name: String,
        value: String,
    },
    /// OAuth2 client credentials; the token is cached and fetched again shortly before it
    /// expires, or after a 401.
    Oauth2ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: String,
        #[serde(default)]
        scope: Option<String>,
        /// A field of the token answer that replaces the base URL (Salesforce `instance_url`).
        #[serde(default)]
        base_url_from: Option<String>,
        /// Where the token is in the answer (default `access_token`; Personio v1: `data.token`).
        #[serde(default)]
        token_path: Option<String>,
        /// Send the credentials as a JSON body instead of a form (Personio v1 `/v1/auth`).
        #[serde(default)]
        json_body: bool,
        /// Seconds a token lives when the answer does not say (default 3600).
        #[serde(default)]
        lifetime_secs: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyLocation {
    Header,
    Query,
}

/// Retrying throttled and failing requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Throttle {
    /// Statuses that mean "slow down / try again" (default 429, 502, 503, 504).
    pub retry_on: Vec<u16>,
    /// Other answers that mean throttling: a status with a body containing a text
    /// (Salesforce's 403 `REQUEST_LIMIT_EXCEEDED`).
    pub retry_on_body: Vec<BodyMatch>,
    pub max_retries: u32,
    /// `Retry-After` is honoured up to this many seconds.
    pub max_wait_secs: u64,
    /// Requests per second at most (0 = no budget).
    pub requests_per_second: f64,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            retry_on: vec![429, 502, 503, 504],
            retry_on_body: Vec::new(),
            max_retries: 5,
            max_wait_secs: 120,
            requests_per_second: 0.0,
        }
    }
}

/// Which answers to a record's own calls (hydration, links, write-back) mean that this
/// record is broken, rather than the source. Any other 4xx (a 401 after the token refresh,
/// a 400) means the source is misconfigured; 5xx, timeouts and answers that are not JSON
/// mean it is unavailable for now; the `throttle` statuses are retried, then wait for the
/// source's next try.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorClasses {
    /// Default 403, 404, 410 (the record is gone or hidden from this user).
    pub record: Vec<u16>,
}

impl Default for ErrorClasses {
    fn default() -> Self {
        Self {
            record: vec![403, 404, 410],
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyMatch {
    pub status: u16,
    pub contains: String,
}

/// One HTTP request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    #[serde(default = "get")]
    pub method: String,
    /// A path under the base URL, or an absolute URL.
    pub path: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body; its strings are templates.
    #[serde(default)]
    pub json: Option<serde_json::Value>,
}

fn get() -> String {
    "GET".into()
}

/// A stream of records.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stream {
    pub request: Request,
    #[serde(default)]
    pub paginator: Paginator,
    /// Dotted path to the records in the answer (`data`, `results`); empty = the answer.
    /// A map of records keyed by id (BambooHR's `employees`) is accepted too.
    #[serde(default)]
    pub selector: String,
    /// The record's id field (dotted).
    #[serde(default = "id")]
    pub primary_key: String,
    #[serde(default)]
    pub cursor: Option<Cursor>,
    /// Keeps a record only when this renders true (over `record`), before hydration.
    #[serde(default)]
    pub filter: Option<String>,
    /// Requests per record, in order, each merging its answer into the record.
    #[serde(default)]
    pub hydrate: Vec<Hydrate>,
    /// Personio's `{label, value}` attributes: replace every such object by its `value`.
    #[serde(default)]
    pub unwrap_values: bool,
}

fn id() -> String {
    "id".into()
}

/// How pages follow each other.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum Paginator {
    #[default]
    None,
    /// `?page=1,2,…` until a page has fewer than `size` records.
    Page {
        param: String,
        #[serde(default = "one")]
        start: u64,
        #[serde(default)]
        size_param: Option<String>,
        size: u64,
    },
    /// `?offset=0,size,…` until a page has fewer than `size` records.
    Offset {
        param: String,
        #[serde(default)]
        size_param: Option<String>,
        size: u64,
    },
    /// The next page's token is at `token_path` in the answer; sent as `param` (query) or
    /// `body_field` (JSON body).
    Cursor {
        token_path: String,
        #[serde(default)]
        param: Option<String>,
        #[serde(default)]
        body_field: Option<String>,
        /// After this many records in one query, query again from the newest cursor value
        /// seen (HubSpot search stops at 10,000 results).
        #[serde(default)]
        restart_after: Option<u64>,
    },
    /// The next page's URL is at `url_path` in the answer (Salesforce `nextRecordsUrl`).
    NextUrl { url_path: String },
    /// The next page's URL is the `Link: <…>; rel="next"` header.
    LinkHeader,
}

fn one() -> u64 {
    1
}

/// The incremental cursor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// The record field holding its modification time (dotted).
    pub field: String,
    /// How the record's field writes times: `rfc3339` (default), `epoch_ms`, `epoch_s`, or a
    /// strftime format (with `%z` for offsets like `+0000`).
    #[serde(default = "rfc3339")]
    pub format: String,
    /// How the cursor is sent in requests (`{{cursor}}`), when not like the field.
    #[serde(default)]
    pub send_format: Option<String>,
    /// The cursor before the first run.
    #[serde(default = "epoch")]
    pub start: String,
    /// Read again this far back from the stored cursor (records seen twice are deduplicated).
    #[serde(default)]
    pub lookback_secs: i64,
}

fn rfc3339() -> String {
    "rfc3339".into()
}

fn epoch() -> String {
    "1970-01-01T00:00:00Z".into()
}

/// A per-record request whose answer is merged into the record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hydrate {
    pub request: Request,
    #[serde(default)]
    pub selector: String,
    /// Merge under this key (default: into the record itself).
    #[serde(default)]
    pub into: Option<String>,
    /// A failed or impossible request (a field it needs is empty) leaves `into` null instead
    /// of failing the read.
    #[serde(default)]
    pub optional: bool,
}

/// Write-back: the steps for each file, then optional steps for the fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteBackSpec {
    /// Run once per file (`file.name`, `file.content`); later steps see earlier captures.
    #[serde(default)]
    pub file: Vec<Step>,
    /// Run once with `fields` (the mapping's write-back fields).
    #[serde(default)]
    pub fields: Vec<Step>,
}

/// One write-back request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default = "post")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body (strings are templates).
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// Multipart parts, in order: a value template, or `{file: true, filename, content_type}`
    /// for the file, or `{json: …, content_type}` for a JSON part.
    #[serde(default)]
    pub multipart: Vec<Part>,
    /// Values to keep from the answer for later steps: name → dotted path.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
}

fn post() -> String {
    "POST".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
    /// This part is the file's bytes.
    #[serde(default)]
    pub file: bool,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    #[serde(default)]
    pub content_type: Option<String>,
}

/// Checking the system's own webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inbound {
    /// The header carrying the signature.
    pub signature_header: String,
    /// `sha256` or `sha512`.
    pub algorithm: String,
    /// `hex` or `base64`.
    pub encoding: String,
    /// The HMAC key (a template over `config`).
    pub secret: String,
    /// What is signed: a template over `body`, `method`, `uri`, `timestamp` (default: the body).
    #[serde(default)]
    pub signed: Option<String>,
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// Or: where the event's time is in the JSON body (RFC 3339 or epoch).
    #[serde(default)]
    pub timestamp_path: Option<String>,
    /// Requests whose timestamp is further than this from now are refused (default 300).
    #[serde(default = "five_minutes")]
    pub tolerance_secs: i64,
}

fn five_minutes() -> i64 {
    300
}
