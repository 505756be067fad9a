//! Declarative HTTP connectors: a YAML definition (`connectors/<name>.yaml`) read by one engine
//! that authenticates, pages, selects, follows an incremental cursor, hydrates, throttles,
//! writes back and checks inbound webhooks — so supporting a system is a file, not Rust.

pub mod definition;

use super::connector::{
    BrokenRecord, Connector, PushRequest, ReadBatch, SourceError, SourceRecord, WriteBack,
};
use definition::{Auth, Definition, KeyLocation, Paginator, Request, Step};
use handlebars::Handlebars;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

tokio::task_local! {
    /// Set while a request is made once, without the throttle's retries.
    static ONE_ATTEMPT: bool;
}

/// Reads a definition file (errors name file:line:col).
pub fn load_definition(path: &Path) -> Result<Definition, crate::config::ConfigError> {
    let origin = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|source| crate::config::ConfigError::Read {
            path: origin.clone(),
            source,
        })?;
    serde_saphyr::from_str(&text).map_err(|err| {
        let (line, column) = err
            .location()
            .map(|loc| (loc.line(), loc.column()))
            .unwrap_or((1, 1));
        crate::config::ConfigError::Invalid {
            path: origin,
            line,
            column,
            message: err
                .to_string()
                .lines()
                .next()
                .unwrap_or("invalid")
                .trim()
                .to_string(),
        }
    })
}

/// Records hydrated at once.
const HYDRATION_CONCURRENCY: usize = 8;

struct Token {
    value: String,
    expires_at: Instant,
    base_url: Option<String>,
}

/// A source driven by a definition.
pub struct HttpConnector {
    name: String,
    definition: Definition,
    config: Value,
    base_url: Option<String>,
    http: reqwest::Client,
    registry: Handlebars<'static>,
    token: Mutex<Option<Token>>,
    next_slot: Mutex<Instant>,
}

/// A dotted path into a value (`a.b.0.c`).
pub fn at_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(value);
    }
    path.split('.').try_fold(value, |value, part| match value {
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => value.get(part),
    })
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Replaces every `{label, value, …}` object by its `value` (Personio's attributes).
fn unwrap_values(value: Value) -> Value {
    match value {
        Value::Object(map) if map.contains_key("value") && map.contains_key("label") => {
            unwrap_values(map.get("value").cloned().unwrap_or(Value::Null))
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, unwrap_values(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(unwrap_values).collect()),
        other => other,
    }
}

fn parse_time(text: &str, format: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    match format {
        "rfc3339" => chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc)),
        "epoch_ms" => text
            .parse::<i64>()
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis),
        "epoch_s" => text
            .parse::<i64>()
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0)),
        other => chrono::NaiveDateTime::parse_from_str(text, other)
            .ok()
            .map(|t| t.and_utc()),
    }
}

fn format_time(at: chrono::DateTime<chrono::Utc>, format: &str) -> String {
    match format {
        "rfc3339" => at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "epoch_ms" => at.timestamp_millis().to_string(),
        "epoch_s" => at.timestamp().to_string(),
        other => at.format(other).to_string(),
    }
}

/// A record's version when its stream has no cursor field: a hash of its content.
fn content_version(item: &Value) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(item.to_string().as_bytes())[..8])
}

/// What one HTTP exchange gave.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self, what: &str) -> Result<Value, SourceError> {
        // An HTML error page or a cut-off answer where JSON was promised: the source is not
        // itself right now (a proxy, a maintenance page); try it again later.
        serde_json::from_slice(&self.body).map_err(|err| {
            SourceError::Unavailable(format!(
                "{what}: the answer (HTTP {}) is not valid JSON ({err}); nothing was recorded and the cursor stays",
                self.status
            ))
        })
    }
}

impl HttpConnector {
    /// A connector for source `name` with its settings; required settings must be present.
    pub fn new(
        name: &str,
        definition: Definition,
        settings: &BTreeMap<String, String>,
        base_url: Option<String>,
    ) -> Result<Self, SourceError> {
        let mut config = Map::new();
        for (key, spec) in &definition.settings {
            match settings.get(key).or(spec.default.as_ref()) {
                Some(value) => {
                    config.insert(key.clone(), json!(value));
                }
                None if spec.required => {
                    return Err(SourceError::Config(format!(
                        "source `{name}`: setting `{key}` is required ({})",
                        spec.description
                            .as_deref()
                            .unwrap_or("see the connector file")
                    )))
                }
                None => {
                    config.insert(key.clone(), json!(""));
                }
            }
        }
        for key in settings.keys() {
            if !definition.settings.contains_key(key) {
                let known: Vec<&String> = definition.settings.keys().collect();
                return Err(SourceError::Config(format!(
                    "source `{name}`: unknown setting `{key}` (this connector takes {known:?})"
                )));
            }
        }
        Ok(Self {
            name: name.to_string(),
            definition,
            config: Value::Object(config),
            base_url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(|err| SourceError::Config(err.to_string()))?,
            registry: crate::pdf::render::expression_registry(),
            token: Mutex::new(None),
            next_slot: Mutex::new(Instant::now()),
        })
    }

    fn render(&self, template: &str, context: &Value) -> Result<String, SourceError> {
        if !template.contains("{{") {
            return Ok(template.to_string());
        }
        self.registry
            .render_template(template, context)
            .map_err(|err| {
                SourceError::Config(format!(
                    "source `{}`: template `{template}`: {}",
                    self.name,
                    err.reason()
                ))
            })
    }

    fn render_json(&self, value: &Value, context: &Value) -> Result<Value, SourceError> {
        Ok(match value {
            Value::String(text) => Value::String(self.render(text, context)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.render_json(v, context))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_json(v, context)?)))
                    .collect::<Result<_, SourceError>>()?,
            ),
            other => other.clone(),
        })
    }

    fn context(&self, extra: Value) -> Value {
        let mut context = json!({"config": self.config});
        if let (Value::Object(into), Value::Object(from)) = (&mut context, extra) {
            into.extend(from);
        }
        context
    }

    /// Runs `future` to completion from synchronous code (a blocking thread of the daemon's
    /// runtime, or a plain thread such as `validate`'s).
    fn block<T>(&self, future: impl std::future::Future<Output = T>) -> T {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle.block_on(future),
            Err(_) => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(future))
                .unwrap_or_else(|err| panic!("cannot start a runtime: {err}")),
        }
    }

    async fn base_url(&self) -> Result<String, SourceError> {
        if let Some(base) = &self.base_url {
            return Ok(base.trim_end_matches('/').to_string());
        }
        if let Auth::Oauth2ClientCredentials {
            base_url_from: Some(_),
            ..
        } = &self.definition.auth
        {
            self.access_token().await?;
            if let Some(base) = self
                .token
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .and_then(|t| t.base_url.clone())
            {
                return Ok(base.trim_end_matches('/').to_string());
            }
        }
        Ok(self
            .render(&self.definition.base_url, &self.context(json!({})))?
            .trim_end_matches('/')
            .to_string())
    }

    /// The cached OAuth2 token, fetched when missing or about to expire.
    async fn access_token(&self) -> Result<String, SourceError> {
        let Auth::Oauth2ClientCredentials {
            token_url,
            client_id,
            client_secret,
            scope,
            base_url_from,
            token_path,
            json_body,
            lifetime_secs,
        } = &self.definition.auth
        else {
            return Ok(String::new());
        };
        if let Some(token) = self
            .token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            if token.expires_at > Instant::now() + Duration::from_secs(60) {
                return Ok(token.value.clone());
            }
        }
        let context = self.context(json!({}));
        let mut form = vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_id".to_string(), self.render(client_id, &context)?),
            (
                "client_secret".to_string(),
                self.render(client_secret, &context)?,
            ),
        ];
        if let Some(scope) = scope {
            form.push(("scope".into(), self.render(scope, &context)?));
        }
        let mut url = self.render(token_url, &context)?;
        if url.starts_with('/') {
            let base = match &self.base_url {
                Some(base) => base.clone(),
                None => self.render(&self.definition.base_url, &context)?,
            };
            url = format!("{}{url}", base.trim_end_matches('/'));
        }
        let request = if *json_body {
            let body: Map<String, Value> = form
                .iter()
                .filter(|(k, _)| k != "grant_type")
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            self.http.post(&url).json(&body)
        } else {
            self.http.post(&url).form(&form)
        };
        let response = request.send().await.map_err(|err| {
            SourceError::Unavailable(format!("{}: token request: {err}", self.name))
        })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(SourceError::Config(format!(
                "{}: the token request was refused ({status}): {body}",
                self.name
            )));
        }
        let path = token_path.as_deref().unwrap_or("access_token");
        let value = at_path(&body, path)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                SourceError::Config(format!("{}: the token answer has no `{path}`", self.name))
            })?
            .to_string();
        let lifetime = body["expires_in"]
            .as_u64()
            .or(*lifetime_secs)
            .unwrap_or(3600);
        let base_url = base_url_from
            .as_ref()
            .and_then(|field| body[field.as_str()].as_str().map(str::to_string));
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(Token {
            value: value.clone(),
            expires_at: Instant::now() + Duration::from_secs(lifetime),
            base_url,
        });
        Ok(value)
    }

    async fn wait_for_budget(&self) {
        let rate = self.definition.throttle.requests_per_second;
        if rate <= 0.0 {
            return;
        }
        let wait = {
            let mut next = self.next_slot.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + Duration::from_secs_f64(1.0 / rate);
            slot - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    fn is_throttled(&self, answer: &Answer) -> bool {
        let throttle = &self.definition.throttle;
        throttle.retry_on.contains(&answer.status)
            || throttle.retry_on_body.iter().any(|m| {
                m.status == answer.status
                    && String::from_utf8_lossy(&answer.body).contains(&m.contains)
            })
    }

    /// Sends a request (built fresh for every attempt), with authentication, the request
    /// budget, retries on throttling (honouring `Retry-After`, clamped) and one token refresh
    /// after a 401.
    async fn exchange(
        &self,
        what: &str,
        build: &(dyn Fn(&reqwest::Client) -> Result<reqwest::RequestBuilder, SourceError> + Sync),
    ) -> Result<Answer, SourceError> {
        let throttle = &self.definition.throttle;
        // A check (`validate`) reports at once what a run would wait out.
        let max_retries = if ONE_ATTEMPT.try_with(|one| *one).unwrap_or(false) {
            0
        } else {
            throttle.max_retries
        };
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            self.wait_for_budget().await;
            let mut request = build(&self.http)?;
            let context = self.context(json!({}));
            for (name, value) in &self.definition.headers {
                request = request.header(name, self.render(value, &context)?);
            }
            request = match &self.definition.auth {
                Auth::None => request,
                Auth::Basic { username, password } => request.basic_auth(
                    self.render(username, &context)?,
                    Some(self.render(password, &context)?),
                ),
                Auth::Bearer { token } => request.bearer_auth(self.render(token, &context)?),
                Auth::ApiKey {
                    location: KeyLocation::Header,
                    name,
                    value,
                } => request.header(name, self.render(value, &context)?),
                Auth::ApiKey {
                    location: KeyLocation::Query,
                    name,
                    value,
                } => request.query(&[(name, self.render(value, &context)?)]),
                Auth::Oauth2ClientCredentials { .. } => {
                    request.bearer_auth(self.access_token().await?)
                }
            };
            let response = request.send().await;
            let answer = match response {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    let body = response
                        .bytes()
                        .await
                        .map_err(|err| {
                            SourceError::Unavailable(format!(
                                "{what}: the answer was cut off: {err}"
                            ))
                        })?
                        .to_vec();
                    Answer {
                        status,
                        headers,
                        body,
                    }
                }
                Err(err) if attempt < max_retries => {
                    attempt += 1;
                    tracing::warn!(source = %self.name, what, attempt, error = %err, "request failed; retrying");
                    tokio::time::sleep(Self::backoff(attempt, throttle.max_wait_secs)).await;
                    continue;
                }
                Err(err) => return Err(SourceError::Unavailable(format!("{what}: {err}"))),
            };
            if answer.status == 401
                && !refreshed
                && matches!(self.definition.auth, Auth::Oauth2ClientCredentials { .. })
            {
                refreshed = true;
                *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
                tracing::info!(source = %self.name, "access token refused; fetching a new one");
                continue;
            }
            if self.is_throttled(&answer) {
                let retry_after = answer
                    .headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if attempt >= max_retries {
                    return Err(SourceError::Throttled {
                        message: format!(
                            "{what}: still throttled (HTTP {}) after {attempt} retries",
                            answer.status
                        ),
                        retry_after_secs: retry_after,
                    });
                }
                attempt += 1;
                let wait = retry_after
                    .map(|secs| Duration::from_secs(secs.min(throttle.max_wait_secs)))
                    .unwrap_or_else(|| Self::backoff(attempt, throttle.max_wait_secs));
                tracing::warn!(source = %self.name, what, status = answer.status, wait_ms = wait.as_millis() as u64, "throttled; waiting");
                tokio::time::sleep(wait).await;
                continue;
            }
            if !(200..300).contains(&answer.status) {
                let excerpt: String = String::from_utf8_lossy(&answer.body)
                    .chars()
                    .take(300)
                    .collect();
                let error = format!("{what}: HTTP {}: {excerpt}", answer.status);
                return Err(if self.definition.errors.record.contains(&answer.status) {
                    SourceError::BadRecord(error)
                } else if answer.status >= 500 || answer.status == 408 {
                    SourceError::Unavailable(error)
                } else {
                    SourceError::Config(format!("{error} (the source refused the request)"))
                });
            }
            return Ok(answer);
        }
    }

    fn backoff(attempt: u32, max_secs: u64) -> Duration {
        let base = 0.5 * 2f64.powi(attempt.min(10) as i32);
        let jitter = rand::random::<f64>() * 0.3 * base;
        Duration::from_secs_f64((base + jitter).min(max_secs.max(1) as f64))
    }

    fn url(&self, base: &str, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{base}{path}")
        }
    }

    async fn request(
        &self,
        what: &str,
        spec: &Request,
        context: &Value,
        page_param: Option<(&str, String)>,
        page_body: Option<(&str, Value)>,
        url_override: Option<String>,
    ) -> Result<Answer, SourceError> {
        let base = self.base_url().await?;
        let url = match url_override {
            Some(url) => self.url(&base, &url),
            None => self.url(&base, &self.render(&spec.path, context)?),
        };
        let mut params: Vec<(String, String)> = Vec::new();
        for (name, value) in &spec.params {
            let value = self.render(value, context)?;
            if !value.is_empty() {
                params.push((name.clone(), value));
            }
        }
        if let Some((name, value)) = page_param {
            params.push((name.to_string(), value));
        }
        let mut headers = Vec::new();
        for (name, value) in &spec.headers {
            headers.push((name.clone(), self.render(value, context)?));
        }
        let mut body = match &spec.json {
            Some(json) => Some(self.render_json(json, context)?),
            None => None,
        };
        if let (Some(Value::Object(map)), Some((field, token))) = (&mut body, page_body) {
            map.insert(field.to_string(), token);
        }
        let method = reqwest::Method::from_bytes(spec.method.to_uppercase().as_bytes())
            .map_err(|_| SourceError::Config(format!("unknown HTTP method `{}`", spec.method)))?;
        let build = |client: &reqwest::Client| {
            let mut request = client
                .request(method.clone(), &url)
                .query(&params)
                .header("Accept", "application/json");
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            Ok(request)
        };
        self.exchange(what, &build).await
    }

    async fn read_async(
        &self,
        stream_name: &str,
        cursor: Option<&str>,
    ) -> Result<ReadBatch, SourceError> {
        let stream = self.stream(stream_name)?;
        // The stored cursor is RFC 3339 (UTC); requests get it as `send_format` (or `format`).
        let send_format = |spec: &definition::Cursor| {
            spec.send_format
                .clone()
                .unwrap_or_else(|| spec.format.clone())
        };
        let (mut sent_cursor, stored) = match &stream.cursor {
            Some(spec) => {
                let stored = cursor
                    .map(str::to_string)
                    .unwrap_or_else(|| spec.start.clone());
                let at = parse_time(&stored, "rfc3339").ok_or_else(|| {
                    SourceError::Config(format!(
                        "source `{}`: the cursor `{stored}` is not an RFC 3339 time",
                        self.name
                    ))
                })?;
                let floor = format_time(
                    at - chrono::Duration::seconds(spec.lookback_secs),
                    &send_format(spec),
                );
                (floor, Some(format_time(at, "rfc3339")))
            }
            None => (String::new(), None),
        };
        let mut batch = ReadBatch::default();
        let mut newest: Option<chrono::DateTime<chrono::Utc>> =
            stored.as_deref().and_then(|s| parse_time(s, "rfc3339"));
        let mut window = 0u64;
        let mut page_number = 0u64;
        let mut token: Option<Value> = None;
        let mut next_url: Option<String> = None;
        loop {
            let (page_param, page_body) = match &stream.paginator {
                Paginator::Page { param, start, .. } => (
                    Some((param.as_str(), (start + page_number).to_string())),
                    None,
                ),
                Paginator::Offset { param, .. } => {
                    (Some((param.as_str(), window.to_string())), None)
                }
                Paginator::Cursor {
                    param, body_field, ..
                } => match &token {
                    Some(value) => (
                        param
                            .as_deref()
                            .map(|p| (p, text_of(value).unwrap_or_default())),
                        body_field.as_deref().map(|f| (f, value.clone())),
                    ),
                    None => (None, None),
                },
                _ => (None, None),
            };
            let context =
                self.context(json!({"cursor": sent_cursor, "page": {"number": page_number}}));
            let mut spec = stream.request.clone();
            if let Paginator::Page {
                size_param: Some(p),
                size,
                ..
            }
            | Paginator::Offset {
                size_param: Some(p),
                size,
                ..
            } = &stream.paginator
            {
                spec.params.insert(p.clone(), size.to_string());
            }
            let what = format!("{} {stream_name} page {}", self.name, page_number + 1);
            // The listing is not one record's call: a 403/404 here means a wrong path, account
            // or permission — the source's configuration.
            let answer = self
                .request(
                    &what,
                    &spec,
                    &context,
                    page_param,
                    page_body,
                    next_url.take(),
                )
                .await
                .map_err(|err| match err {
                    SourceError::BadRecord(message) => SourceError::Config(message),
                    other => other,
                })?;
            let body = answer.json(&what)?;
            let selected = at_path(&body, &stream.selector).ok_or_else(|| {
                SourceError::BadRecord(format!(
                    "{what}: no `{}` in the answer; nothing was recorded and the cursor stays",
                    stream.selector
                ))
            })?;
            let items: Vec<Value> = match selected {
                Value::Array(items) => items.clone(),
                Value::Object(map) => map.values().cloned().collect(),
                Value::Null => Vec::new(),
                _ => {
                    return Err(SourceError::BadRecord(format!(
                        "{what}: `{}` is not a list of records",
                        stream.selector
                    )))
                }
            };
            let count = items.len() as u64;
            let mut kept = Vec::with_capacity(items.len());
            for item in items {
                let item = if stream.unwrap_values {
                    unwrap_values(item)
                } else {
                    item
                };
                if let Some(filter) = &stream.filter {
                    let keep =
                        self.render(filter, &json!({"record": item, "config": self.config}))?;
                    if matches!(keep.trim(), "" | "false" | "0" | "no") {
                        continue;
                    }
                }
                kept.push(item);
            }
            // Hydration: a few records at once (the request budget still paces them), in order.
            // A record whose own call says it is broken (404, 403, …) is kept aside; anything
            // transient fails the read.
            let mut hydrated = Vec::with_capacity(kept.len());
            for chunk in kept.chunks(HYDRATION_CONCURRENCY) {
                let steps = chunk.iter().cloned().map(|item| async move {
                    let completed = self.hydrate_all(stream_name, item.clone()).await;
                    (item, completed)
                });
                for (item, completed) in futures_util::future::join_all(steps).await {
                    hydrated.push((item, completed));
                }
            }
            for (raw, completed) in hydrated {
                let found = completed.and_then(|item| self.identify(stream, &what, item));
                match found {
                    Ok((record, at)) => {
                        if let Some(at) = at.filter(|at| newest.is_none_or(|n| *at > n)) {
                            newest = Some(at);
                        }
                        batch.records.push(record);
                    }
                    Err(SourceError::BadRecord(reason)) => {
                        let id = at_path(&raw, &stream.primary_key).and_then(text_of);
                        let stamp = stream.cursor.as_ref().and_then(|spec| {
                            let value = at_path(&raw, &spec.field).and_then(text_of)?;
                            let at = parse_time(&value, &spec.format);
                            Some((value, at))
                        });
                        // The broken record is recorded (it needs attention): the cursor may
                        // pass it like any other.
                        if let Some(at) = stamp
                            .as_ref()
                            .and_then(|(_, at)| *at)
                            .filter(|at| newest.is_none_or(|n| *at > n))
                        {
                            newest = Some(at);
                        }
                        let version = stamp
                            .map(|(value, _)| value)
                            .unwrap_or_else(|| content_version(&raw));
                        tracing::warn!(source = %self.name, stream = stream_name, record = ?id, %reason, "record needs attention");
                        batch.broken.push(BrokenRecord {
                            id,
                            version,
                            data: raw,
                            reason,
                        });
                    }
                    Err(err) => return Err(err),
                }
            }
            page_number += 1;
            window += count;
            let more = match &stream.paginator {
                Paginator::None => false,
                Paginator::Page { size, .. } | Paginator::Offset { size, .. } => {
                    count >= *size && count > 0
                }
                Paginator::Cursor {
                    token_path,
                    restart_after,
                    ..
                } => {
                    token = at_path(&body, token_path)
                        .filter(|v| text_of(v).is_some())
                        .cloned();
                    let mut restart = false;
                    if let (Some(limit), Some(spec), Some(at), true) =
                        (restart_after, &stream.cursor, newest, token.is_some())
                    {
                        let floor = format_time(at, &send_format(spec));
                        if window + count > *limit && floor == sent_cursor {
                            // Everything in the window has the same time: the floor cannot
                            // move, so stop here rather than loop.
                            tracing::warn!(source = %self.name, stream = stream_name, "more records share one modification time than one query can return; the rest come on the next run");
                            token = None;
                        } else if window + count > *limit {
                            // Slide the floor instead of paging past the cap; records at the
                            // floor come again and are deduplicated by their version.
                            sent_cursor = format_time(at, &send_format(spec));
                            token = None;
                            window = 0;
                            restart = true;
                            tracing::info!(source = %self.name, stream = stream_name, floor = %sent_cursor, "result cap near: querying again from the newest time seen");
                        }
                    }
                    restart || token.is_some()
                }
                Paginator::NextUrl { url_path } => {
                    next_url = at_path(&body, url_path).and_then(text_of);
                    next_url.is_some()
                }
                Paginator::LinkHeader => {
                    next_url = answer
                        .headers
                        .get_all("link")
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .flat_map(|v| v.split(','))
                        .find(|part| part.contains("rel=\"next\""))
                        .and_then(|part| part.split(';').next())
                        .map(|url| {
                            url.trim()
                                .trim_start_matches('<')
                                .trim_end_matches('>')
                                .to_string()
                        });
                    next_url.is_some()
                }
            };
            if !more || page_number >= 10_000 {
                break;
            }
        }
        batch.cursor = newest.map(|at| format_time(at, "rfc3339")).or(stored);
        Ok(batch)
    }

    /// A listed record with every hydration step done.
    async fn hydrate_all(&self, stream_name: &str, item: Value) -> Result<Value, SourceError> {
        let stream = self.stream(stream_name)?;
        let mut item = item;
        for hydrate in &stream.hydrate {
            item = self.hydrate(stream_name, hydrate, item).await?;
        }
        Ok(item)
    }

    fn stream(&self, name: &str) -> Result<&definition::Stream, SourceError> {
        self.definition.streams.get(name).ok_or_else(|| {
            SourceError::Config(format!("source `{}` has no stream `{name}`", self.name))
        })
    }

    /// A complete record's id and version (and the time of that version, for the cursor).
    fn identify(
        &self,
        stream: &definition::Stream,
        what: &str,
        item: Value,
    ) -> Result<(SourceRecord, Option<chrono::DateTime<chrono::Utc>>), SourceError> {
        let id = at_path(&item, &stream.primary_key)
            .and_then(text_of)
            .ok_or_else(|| {
                SourceError::BadRecord(format!(
                    "{what}: a record has no `{}` (its id)",
                    stream.primary_key
                ))
            })?;
        let (version, at) = match &stream.cursor {
            Some(spec) => {
                let value = at_path(&item, &spec.field)
                    .and_then(text_of)
                    .ok_or_else(|| {
                        SourceError::BadRecord(format!(
                            "{what}: record {id} has no `{}`",
                            spec.field
                        ))
                    })?;
                let at = parse_time(&value, &spec.format).ok_or_else(|| {
                    SourceError::BadRecord(format!(
                        "{what}: record {id}: `{value}` is not a time in the `{}` format",
                        spec.format
                    ))
                })?;
                (value, Some(at))
            }
            None => (content_version(&item), None),
        };
        Ok((
            SourceRecord {
                id,
                version,
                data: item,
            },
            at,
        ))
    }

    async fn hydrate(
        &self,
        stream_name: &str,
        hydrate: &definition::Hydrate,
        record: Value,
    ) -> Result<Value, SourceError> {
        let context = self.context(json!({"record": record}));
        let fetched = async {
            // The record lacks what the path needs: that record's problem, not the source's.
            let path = self
                .render(&hydrate.request.path, &context)
                .map_err(|err| SourceError::BadRecord(err.to_string()))?;
            let what = format!(
                "{} {stream_name}: {} {path}",
                self.name,
                hydrate.request.method.to_uppercase()
            );
            if path.ends_with('/') || path.contains("//") {
                return Err(SourceError::BadRecord(format!(
                    "{what}: the path is missing a value (`{}`)",
                    hydrate.request.path
                )));
            }
            let answer = self
                .request(&what, &hydrate.request, &context, None, None, None)
                .await?;
            answer.json(&what)
        }
        .await;
        let body = match fetched {
            Ok(body) => body,
            // Optional: the record may lack what it points to; a source that is down still
            // fails the read (the record is not taken without it).
            Err(err @ SourceError::BadRecord(_)) if hydrate.optional => {
                tracing::debug!(source = %self.name, error = %err, "optional hydration skipped");
                Value::Null
            }
            Err(err) => return Err(err),
        };
        let extra = at_path(&body, &hydrate.selector)
            .cloned()
            .unwrap_or(Value::Null);
        let mut record = record;
        match (&hydrate.into, &mut record, extra) {
            (Some(key), Value::Object(map), extra) => {
                map.insert(key.clone(), extra);
            }
            (None, Value::Object(map), Value::Object(extra)) => map.extend(extra),
            _ => {}
        }
        Ok(record)
    }

    async fn run_step(
        &self,
        what: &str,
        step: &Step,
        context: &Value,
        file: Option<&[u8]>,
    ) -> Result<Value, SourceError> {
        let base = self.base_url().await?;
        let url = self.url(&base, &self.render(&step.path, context)?);
        let mut params = Vec::new();
        for (name, value) in &step.params {
            params.push((name.clone(), self.render(value, context)?));
        }
        let mut headers = Vec::new();
        for (name, value) in &step.headers {
            headers.push((name.clone(), self.render(value, context)?));
        }
        let body = match &step.json {
            Some(json) => Some(self.render_json(json, context)?),
            None => None,
        };
        // Multipart parts are rendered once and rebuilt for every attempt.
        enum Rendered {
            Text(String, String),
            Bytes(String, Vec<u8>, String, String),
        }
        let mut parts = Vec::new();
        for part in &step.multipart {
            if part.file {
                let bytes = file.ok_or_else(|| {
                    SourceError::Config(format!("{what}: a file part outside a file step"))
                })?;
                let filename =
                    self.render(part.filename.as_deref().unwrap_or("{{file.name}}"), context)?;
                parts.push(Rendered::Bytes(
                    part.name.clone(),
                    bytes.to_vec(),
                    filename,
                    part.content_type
                        .clone()
                        .unwrap_or_else(|| "application/pdf".into()),
                ));
            } else if let Some(json) = &part.json {
                let rendered = self.render_json(json, context)?;
                parts.push(Rendered::Bytes(
                    part.name.clone(),
                    rendered.to_string().into_bytes(),
                    String::new(),
                    part.content_type
                        .clone()
                        .unwrap_or_else(|| "application/json".into()),
                ));
            } else {
                parts.push(Rendered::Text(
                    part.name.clone(),
                    self.render(part.value.as_deref().unwrap_or(""), context)?,
                ));
            }
        }
        let method = reqwest::Method::from_bytes(step.method.to_uppercase().as_bytes())
            .map_err(|_| SourceError::Config(format!("unknown HTTP method `{}`", step.method)))?;
        let build = |client: &reqwest::Client| {
            let mut request = client
                .request(method.clone(), &url)
                .query(&params)
                .header("Accept", "application/json");
            for (name, value) in &headers {
                request = request.header(name, value);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            if !parts.is_empty() {
                let mut form = reqwest::multipart::Form::new();
                for part in &parts {
                    form = match part {
                        Rendered::Text(name, value) => form.text(name.clone(), value.clone()),
                        Rendered::Bytes(name, bytes, filename, content_type) => {
                            let mut piece = reqwest::multipart::Part::bytes(bytes.clone())
                                .mime_str(content_type)
                                .map_err(|err| {
                                    SourceError::Config(format!(
                                        "{what}: content type `{content_type}`: {err}"
                                    ))
                                })?;
                            if !filename.is_empty() {
                                piece = piece.file_name(filename.clone());
                            }
                            form.part(name.clone(), piece)
                        }
                    };
                }
                request = request.multipart(form);
            }
            Ok(request)
        };
        let answer = self.exchange(what, &build).await?;
        if answer.body.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&answer.body).unwrap_or(Value::Null))
    }

    async fn write_back_async(&self, outcome: &WriteBack) -> Result<(), SourceError> {
        let Some(spec) = &self.definition.writeback else {
            return Err(SourceError::Config(format!(
                "source `{}`: its connector has no write-back",
                self.name
            )));
        };
        let mut captured = Map::new();
        for (name, bytes) in &outcome.files {
            for (index, step) in spec.file.iter().enumerate() {
                let context = self.context(json!({
                    "record": outcome.record,
                    "file": {"name": name, "size": bytes.len()},
                    "envelope": {"id": outcome.envelope_id, "state": outcome.state},
                    "steps": captured,
                    "now": {"rfc3339": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "epoch_ms": chrono::Utc::now().timestamp_millis()},
                }));
                let what = format!("{} write-back of {name} (step {})", self.name, index + 1);
                let answer = self.run_step(&what, step, &context, Some(bytes)).await?;
                for (key, path) in &step.capture {
                    let value = at_path(&answer, path).cloned().ok_or_else(|| {
                        SourceError::BadRecord(format!(
                            "{what}: no `{path}` in the answer to capture as `{key}`"
                        ))
                    })?;
                    captured.insert(key.clone(), value);
                }
            }
        }
        if !outcome.fields.is_empty() {
            for (index, step) in spec.fields.iter().enumerate() {
                let context = self.context(json!({
                    "record": outcome.record,
                    "fields": outcome.fields,
                    "envelope": {"id": outcome.envelope_id, "state": outcome.state},
                    "steps": captured,
                }));
                let what = format!("{} write-back of fields (step {})", self.name, index + 1);
                self.run_step(&what, step, &context, None).await?;
            }
        }
        Ok(())
    }
}

impl Connector for HttpConnector {
    fn read(&self, stream: &str, cursor: Option<&str>) -> Result<ReadBatch, SourceError> {
        self.block(self.read_async(stream, cursor))
    }

    fn reread(&self, stream_name: &str, broken: &Value) -> Result<SourceRecord, SourceError> {
        let stream = self.stream(stream_name)?;
        let what = format!("{} {stream_name} (again)", self.name);
        let item = self.block(self.hydrate_all(stream_name, broken.clone()))?;
        self.identify(stream, &what, item).map(|(record, _)| record)
    }

    fn write_back(&self, outcome: &WriteBack) -> Result<(), SourceError> {
        self.block(self.write_back_async(outcome))
    }

    fn streams(&self) -> Vec<String> {
        self.definition.streams.keys().cloned().collect()
    }

    fn check(&self) -> Result<(), SourceError> {
        let (name, stream) =
            self.definition.streams.iter().next().ok_or_else(|| {
                SourceError::Config(format!("source `{}` has no streams", self.name))
            })?;
        let context = self.context(json!({"cursor": stream.cursor.as_ref().map(|c| c.start.clone()).unwrap_or_default(), "page": {"number": 0}}));
        let what = format!("{} {name} (check)", self.name);
        self.block(ONE_ATTEMPT.scope(true, async {
            let answer = self
                .request(&what, &stream.request, &context, None, None, None)
                .await?;
            answer.json(&what).map(|_| ())
        }))
    }

    fn verify_push(&self, push: &PushRequest) -> Result<(), SourceError> {
        use hmac::Mac;
        let Some(inbound) = &self.definition.inbound else {
            return Err(SourceError::Config(format!(
                "source `{}` takes no pushes",
                self.name
            )));
        };
        let header = |name: &str| {
            push.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let given = header(&inbound.signature_header).ok_or_else(|| {
            SourceError::BadRecord(format!("no {} header", inbound.signature_header))
        })?;
        let timestamp = match &inbound.timestamp_header {
            Some(name) => {
                let value = header(name)
                    .ok_or_else(|| SourceError::BadRecord(format!("no {name} header")))?;
                let number: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| SourceError::BadRecord(format!("{name} is not a number")))?;
                let seconds = if number > 10_000_000_000 {
                    number / 1000
                } else {
                    number
                };
                if (chrono::Utc::now().timestamp() - seconds).abs() > inbound.tolerance_secs {
                    return Err(SourceError::BadRecord(
                        "the push is too old (or from the future): refused as a possible replay"
                            .into(),
                    ));
                }
                value.trim().to_string()
            }
            None => String::new(),
        };
        let context = self.context(json!({}));
        let secret = self.render(&inbound.secret, &context)?;
        let body_text = String::from_utf8_lossy(&push.body).into_owned();
        let signed = match &inbound.signed {
            Some(template) => self
                .render(template, &json!({"body": body_text, "method": push.method, "uri": push.uri, "timestamp": timestamp}))?
                .into_bytes(),
            None => push.body.clone(),
        };
        let expected: Vec<u8> = match inbound.algorithm.as_str() {
            "sha512" => {
                let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(secret.as_bytes())
                    .map_err(|e| SourceError::Config(e.to_string()))?;
                mac.update(&signed);
                mac.finalize().into_bytes().to_vec()
            }
            _ => {
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
                    .map_err(|e| SourceError::Config(e.to_string()))?;
                mac.update(&signed);
                mac.finalize().into_bytes().to_vec()
            }
        };
        let given_bytes = match inbound.encoding.as_str() {
            "base64" => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(given.trim())
                    .ok()
            }
            _ => hex::decode(
                given
                    .trim()
                    .trim_start_matches("sha256=")
                    .trim_start_matches("sha512="),
            )
            .ok(),
        }
        .unwrap_or_default();
        use subtle::ConstantTimeEq;
        if given_bytes.len() != expected.len() || !bool::from(given_bytes.ct_eq(&expected)) {
            return Err(SourceError::BadRecord(
                "the push signature does not match".into(),
            ));
        }
        if let Some(path) = &inbound.timestamp_path {
            let body: Value = serde_json::from_slice(&push.body).unwrap_or(Value::Null);
            let at = at_path(&body, path)
                .and_then(|value| match value {
                    Value::String(text) => parse_time(text, "rfc3339"),
                    Value::Number(n) => n.as_i64().and_then(|n| {
                        if n > 10_000_000_000 {
                            chrono::DateTime::from_timestamp_millis(n)
                        } else {
                            chrono::DateTime::from_timestamp(n, 0)
                        }
                    }),
                    _ => None,
                })
                .ok_or_else(|| {
                    SourceError::BadRecord(format!("the push has no time at `{path}`"))
                })?;
            if (chrono::Utc::now() - at).num_seconds().abs() > inbound.tolerance_secs {
                return Err(SourceError::BadRecord(
                    "the push is too old (or from the future): refused as a possible replay".into(),
                ));
            }
        }
        Ok(())
    }
}
