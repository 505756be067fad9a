//! `signbridge validate`: the config, its sources, every mapping, the templates rendered with
//! each mapping's sample, and the references between them. Every problem is one line starting
//! with `file:line:col`.

use super::mapping::{expand, Contract, Mapping};
use super::{source_from_config, sources_of};
use crate::config::{Config, ConfigError};
use std::path::Path;

/// Where `needle` starts in a file, as `file:line:col` (line 1 when it is not found).
fn position(path: &Path, needle: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for (index, line) in text.lines().enumerate() {
        if let Some(column) = line.find(needle) {
            return format!("{}:{}:{}", path.display(), index + 1, column + 1);
        }
    }
    format!("{}:1:1", path.display())
}

/// Checks everything `run` would use; returns the problems (none = valid).
pub fn validate(config_path: Option<&Path>, check_environment: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let config = match config_path {
        Some(path) => match Config::load(path) {
            Ok(config) => config,
            Err(err) => return vec![err.to_string()],
        },
        None => Config::default(),
    };
    let config_file = config_path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new("signbridge.yaml").to_path_buf());
    let sources = sources_of(&config);
    let mut streams: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, source) in &sources {
        match source_from_config(name, source, &config.sync.connectors_dir) {
            Ok(built) => {
                streams.insert(name.clone(), built.connector.streams());
                // One authenticated request per source (the connector's own check: its first
                // stream's request), so bad credentials and unreachable hosts show here.
                if check_environment {
                    if let Err(err) = built.connector.check() {
                        problems.push(format!(
                            "{}: source `{name}`: {err}",
                            position(&config_file, &format!("{name}:"))
                        ));
                    }
                }
            }
            Err(err) => problems.push(format!(
                "{}: {err}",
                position(&config_file, &format!("{name}:"))
            )),
        }
    }
    if let Ok(entries) = std::fs::read_dir(&config.sync.connectors_dir) {
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
            .collect();
        files.sort();
        for file in files {
            if let Err(err) = super::http::load_definition(&file) {
                problems.push(err.to_string());
            }
        }
    }
    let folder = &config.sync.mappings_dir;
    if !folder.is_dir() {
        if config_path.is_some() || !sources.is_empty() {
            problems.push(format!(
                "{}: mappings folder {} does not exist",
                position(&config_file, "mappings_dir"),
                folder.display()
            ));
        }
        return problems;
    }
    let mappings = match Mapping::load_folder(folder) {
        Ok(mappings) => mappings,
        Err(errors) => {
            problems.extend(errors.iter().map(ConfigError::to_string));
            return problems;
        }
    };
    let registry = crate::pdf::render::expression_registry();
    for mapping in &mappings {
        let at = |needle: &str| position(&mapping.path, needle);
        if !sources.contains_key(&mapping.file.source) {
            let known: Vec<&str> = sources.keys().map(String::as_str).collect();
            problems.push(format!(
                "{}: source `{}` is not configured (sources: {})",
                at("source:"),
                mapping.file.source,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        } else if let Some(known) = streams
            .get(&mapping.file.source)
            .filter(|known| !known.contains(&mapping.file.stream))
        {
            problems.push(format!(
                "{}: source `{}` has no stream `{}` (its streams: {})",
                at(if mapping.file.stream == "records" {
                    "source:"
                } else {
                    "stream:"
                }),
                mapping.file.source,
                mapping.file.stream,
                known.join(", ")
            ));
        }
        let sample = match mapping.sample() {
            Ok(Some(sample)) => sample,
            Ok(None) => {
                problems.push(match mapping.contract {
                    Contract::Rendered { .. } => format!(
                        "{}: no `sample:` record, so the template cannot be checked",
                        at("template:")
                    ),
                    Contract::Template { .. } => format!(
                        "{}: no `sample:` record, so the recipients cannot be checked",
                        at("template_id:")
                    ),
                });
                continue;
            }
            Err(err) => {
                problems.push(format!("{}: {err}", at("sample:")));
                continue;
            }
        };
        if let Err(err) = mapping.selects(&registry, &sample) {
            problems.push(format!("{}: {err}", at("when:")));
        }
        if let Some(message) = mapping.unmet_requirement(&registry, &sample, "sample") {
            problems.push(format!(
                "{}: the sample record does not meet it ({message}); a sample is a complete record",
                at("require:")
            ));
        }
        if let Some(key) = &mapping.file.key {
            if let Err(err) = expand(&registry, "key", key, &sample) {
                problems.push(format!("{}: {err}", at("key:")));
            }
        }
        for path in &mapping.file.resend_on {
            if crate::sync::folder::field(&sample, path).is_none() {
                problems.push(format!(
                    "{}: resend_on names `{path}`, which the sample record does not have (a misspelt field would never resend)",
                    at("resend_on:")
                ));
            }
        }
        if let Contract::Rendered { path, source } = &mapping.contract {
            match mapping.template_data(&registry, &sample) {
                Ok(data) => {
                    let origin = path.display().to_string();
                    if let Err(err) = crate::pdf::render::render_template(&origin, source, &data) {
                        problems.push(err.to_string());
                    }
                }
                Err(err) => problems.push(format!("{}: {err}", at("vars:"))),
            }
        }
        if let Err(err) = mapping.plan(&registry, &sample) {
            let needle = err.0.split([' ', '[', '.']).next().unwrap_or("subject");
            problems.push(format!("{}: {err}", at(needle)));
        }
        for rule in [
            &mapping.file.on_completed,
            &mapping.file.on_declined,
            &mapping.file.on_expired,
        ]
        .into_iter()
        .flatten()
        {
            let mut data = sample.clone();
            if let serde_json::Value::Object(map) = &mut data {
                map.insert("envelope".into(), serde_json::json!({"id": "env_sample", "status": "COMPLETED", "completedAt": "2026-01-01T00:00:00Z"}));
            }
            for (name, expression) in &rule.fields {
                if let Err(err) = expand(&registry, &format!("fields.{name}"), expression, &data) {
                    problems.push(format!("{}: {err}", at(&format!("{name}:"))));
                }
            }
        }
    }
    problems
}
