//! What a newer version of a record does to the job of its contract: one contract per record
//! by default, so most edits do nothing; a change of a mapping's `resend_on` fields corrects
//! a contract still out (void, then send the corrected one), and after signing is reported —
//! or sent as a new contract when the mapping says `after_completion: new_contract`.

use super::jobs::{Attention, Job, JobState, NextContract, SendReason};
use super::mapping::{AfterCompletion, Mapping};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A newer version of a record that has a job, as the source read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordUpdate {
    pub record: Value,
    pub version: String,
    /// This version cannot be used as it is (the source could not give it whole, or the
    /// mapping cannot select or key it): why, and the stream to read it again from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken: Option<BrokenUpdate>,
}

/// Why a newer version of a record cannot be used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokenUpdate {
    pub reason: String,
    /// Set when what was read is incomplete and must be read again before use.
    pub stream: Option<String>,
}

/// The void reason the signers of a superseded contract are told.
pub const SUPERSEDED: &str = "superseded by a corrected contract";

/// The job as it should be after `update`, or `None` when the update changes nothing (also
/// when it was applied already: applying an update twice is the same as once).
pub fn apply(
    mapping: &Mapping,
    job: &Job,
    update: &RecordUpdate,
    now: DateTime<Utc>,
) -> Option<Job> {
    let already_known = update.version == job.version
        || job
            .next
            .as_ref()
            .is_some_and(|n| n.version == update.version)
        || job
            .attention
            .as_ref()
            .is_some_and(|a| a.version == update.version);
    // Skipped by a person: final. Skipped because the mapping did not select it: a newer
    // version is weighed again.
    let skipped_for_good =
        job.state == JobState::Skipped && job.parked_from != Some(JobState::Pending);
    if already_known || skipped_for_good {
        return None;
    }
    let mut job = job.clone();
    let nothing_made = job.state == JobState::Pending
        || (matches!(job.state, JobState::Parked | JobState::Skipped)
            && job.parked_from == Some(JobState::Pending));
    if let Some(problem) = &update.broken {
        if nothing_made {
            // The newest version is the one to fix; it waits, parked, for a person or a
            // newer version.
            job.record = update.record.clone();
            job.version = update.version.clone();
            job.unread = problem.stream.clone();
            job.state = JobState::Parked;
            job.parked_from = Some(JobState::Pending);
            job.attempts = 0;
            job.last_error = Some(problem.reason.clone());
        } else {
            // The contract made from an earlier version stands; a person should look.
            job.attention = Some(Attention {
                message: format!(
                    "a newer version of the record cannot be used: {}",
                    problem.reason
                ),
                version: update.version.clone(),
                at: now,
            });
        }
        return Some(job);
    }
    // Nothing made from the record yet: the contract will be made from the newest one.
    if nothing_made {
        job.record = update.record.clone();
        job.version = update.version.clone();
        job.unread = None;
        if matches!(job.state, JobState::Parked | JobState::Skipped) {
            // Perhaps the edit is the fix of what parked it: try again.
            job.state = JobState::Pending;
            job.parked_from = None;
            job.attempts = 0;
            job.last_error = None;
            job.next_attempt_at = now;
        }
        return Some(job);
    }
    let changed = mapping.changes_that_matter(&job.record, &update.record);
    if changed.is_empty() {
        // Edits that do not matter send nothing; one that undoes a waiting correction
        // before it started cancels it.
        if job.next.is_some() && job.state != JobState::Superseding {
            job.next = None;
            return Some(job);
        }
        return None;
    }
    let next = |reason| NextContract {
        record: update.record.clone(),
        version: update.version.clone(),
        reason,
        changed: changed.clone(),
    };
    match job.state {
        state if state.is_out() => {
            job.next = Some(next(SendReason::Correction));
            job.state = JobState::Superseding;
            job.next_attempt_at = now;
        }
        JobState::Superseding => job.next = Some(next(SendReason::Correction)),
        // Ended without a signature: the corrected contract goes out after the write-back.
        JobState::Declined | JobState::Expired | JobState::Voided => {
            job.next = Some(next(SendReason::Correction))
        }
        JobState::Completed => signed_contract_differs(mapping, &mut job, next, update, now),
        JobState::WrittenBack => match job.ended_as {
            Some(JobState::Declined | JobState::Expired | JobState::Voided) => {
                job.next = Some(next(SendReason::Correction));
                let outcome = job.ended_as.map(JobState::as_str).unwrap_or("ended");
                job.start_next_contract(outcome, now);
            }
            _ => {
                signed_contract_differs(mapping, &mut job, next, update, now);
                job.start_next_contract("completed", now);
            }
        },
        JobState::Parked => {
            job.attention = Some(Attention {
                message: format!(
                    "the record changed where it matters ({}) while its job is parked; `signbridge retry` continues with the earlier values",
                    changed.join(", ")
                ),
                version: update.version.clone(),
                at: now,
            });
        }
        JobState::Pending
        | JobState::Uploaded
        | JobState::Created
        | JobState::Sent
        | JobState::Skipped => {
            unreachable!("handled above")
        }
    }
    Some(job)
}

/// The signed contract no longer matches the record where it matters: a new contract when
/// the mapping asks for one (it starts after the write-back), else a note for the admin.
fn signed_contract_differs(
    mapping: &Mapping,
    job: &mut Job,
    next: impl Fn(SendReason) -> NextContract,
    update: &RecordUpdate,
    now: DateTime<Utc>,
) {
    let amendment = next(SendReason::Amendment);
    match mapping.file.after_completion {
        AfterCompletion::NewContract => job.next = Some(amendment),
        AfterCompletion::Report => {
            job.attention = Some(Attention {
                message: format!(
                    "the signed contract differs from the record: {}",
                    amendment.changed.join(", ")
                ),
                version: update.version.clone(),
                at: now,
            })
        }
    }
}

/// The note that opens a corrected contract's message, in the mapping's language.
pub fn correction_note(locale: Option<&str>) -> &'static str {
    match locale.unwrap_or("en").get(..2).unwrap_or("en") {
        "fr" => "Ce contrat corrigé remplace celui qui vous a été envoyé précédemment, qui a été annulé.",
        "de" => "Dieser korrigierte Vertrag ersetzt den Ihnen zuvor gesandten Vertrag, der zurückgezogen wurde.",
        _ => "This corrected contract replaces the one sent to you earlier, which has been withdrawn.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::jobs::PastEnvelope;
    use serde_json::json;

    fn mapping(extra: &str) -> Mapping {
        let yaml = format!(
            "source: hris\ntemplate: t.md.hbs\nsubject: Contract\nrecipients:\n  - email: \"{{{{email}}}}\"\n    name: x\nresend_on: [salary, job.title]\n{extra}"
        );
        Mapping {
            name: "onboarding".into(),
            path: "onboarding.yaml".into(),
            file: serde_saphyr::from_str(&yaml).unwrap(),
            contract: crate::sync::mapping::Contract::Rendered {
                path: "t.md.hbs".into(),
                source: String::new(),
            },
        }
    }

    fn record(salary: u32, phone: &str) -> Value {
        json!({"id": "E1", "email": "e@example.com", "salary": salary, "phone": phone, "job": {"title": "Engineer"}})
    }

    fn job_in(state: JobState) -> Job {
        let mut job = Job::new(
            "onboarding",
            "hris",
            "E1",
            "E1",
            (record(50_000, "1"), "v1"),
            Utc::now(),
        );
        job.state = state;
        if state != JobState::Pending {
            job.document_id = Some("doc_1".into());
        }
        if matches!(
            state,
            JobState::Created | JobState::Sent | JobState::Completed | JobState::WrittenBack
        ) {
            job.envelope_id = Some("env_1".into());
        }
        job
    }

    fn update(salary: u32, phone: &str, version: &str) -> RecordUpdate {
        RecordUpdate {
            record: record(salary, phone),
            version: version.into(),
            broken: None,
        }
    }

    #[test]
    fn an_edit_that_does_not_matter_sends_nothing() {
        let mapping = mapping("");
        for state in [
            JobState::Uploaded,
            JobState::Created,
            JobState::Sent,
            JobState::Completed,
            JobState::WrittenBack,
        ] {
            assert_eq!(
                apply(
                    &mapping,
                    &job_in(state),
                    &update(50_000, "2", "v2"),
                    Utc::now()
                ),
                None,
                "{state:?}"
            );
        }
        // Without resend_on, nothing ever matters.
        let plain = Mapping {
            file: serde_saphyr::from_str("source: hris\ntemplate: t\nsubject: s\nrecipients: []\n")
                .unwrap(),
            ..mapping
        };
        assert_eq!(
            apply(
                &plain,
                &job_in(JobState::Sent),
                &update(90_000, "1", "v2"),
                Utc::now()
            ),
            None
        );
    }

    #[test]
    fn a_change_that_matters_supersedes_the_contract_out() {
        let mapping = mapping("");
        let now = Utc::now();
        for state in [JobState::Uploaded, JobState::Created, JobState::Sent] {
            let job = apply(&mapping, &job_in(state), &update(55_000, "1", "v2"), now).unwrap();
            assert_eq!(job.state, JobState::Superseding, "{state:?}");
            let next = job.next.as_ref().unwrap();
            assert_eq!(next.reason, SendReason::Correction);
            assert_eq!(next.changed, ["salary"]);
            assert_eq!(
                job.record["salary"], 50_000,
                "the contract out keeps its data"
            );
            // Applied again: the same.
            assert_eq!(apply(&mapping, &job, &update(55_000, "1", "v2"), now), None);
        }
        // A newer change while superseding replaces the waiting record.
        let superseding = apply(
            &mapping,
            &job_in(JobState::Sent),
            &update(55_000, "1", "v2"),
            now,
        )
        .unwrap();
        let newer = apply(&mapping, &superseding, &update(56_000, "1", "v3"), now).unwrap();
        assert_eq!(newer.next.unwrap().record["salary"], 56_000);
    }

    #[test]
    fn the_next_contract_starts_fresh_and_keeps_the_history() {
        let mapping = mapping("");
        let now = Utc::now();
        let mut job = apply(
            &mapping,
            &job_in(JobState::Sent),
            &update(55_000, "1", "v2"),
            now,
        )
        .unwrap();
        let first_key = job.idempotency_key("create");
        assert!(job.start_next_contract("voided: superseded by a corrected contract", now));
        assert_eq!(job.state, JobState::Pending);
        assert_eq!(job.generation, 2);
        assert_eq!(job.record["salary"], 55_000);
        assert_eq!(
            (job.document_id.as_deref(), job.envelope_id.as_deref()),
            (None, None)
        );
        assert_eq!(job.reason, SendReason::Correction);
        assert_ne!(
            job.idempotency_key("create"),
            first_key,
            "new calls, not the old answers"
        );
        assert_eq!(
            job.history,
            [PastEnvelope {
                envelope_id: Some("env_1".into()),
                reason: SendReason::FirstSend,
                outcome: "voided: superseded by a corrected contract".into(),
                ended_at: now,
            }]
        );
    }

    #[test]
    fn after_signing_a_change_is_reported_or_sent_as_a_new_contract() {
        let now = Utc::now();
        let reported = apply(
            &mapping(""),
            &job_in(JobState::WrittenBack),
            &update(55_000, "1", "v2"),
            now,
        )
        .unwrap();
        assert_eq!(reported.state, JobState::WrittenBack);
        assert_eq!(
            reported.attention.as_ref().unwrap().message,
            "the signed contract differs from the record: salary"
        );
        assert_eq!(
            apply(&mapping(""), &reported, &update(55_000, "1", "v2"), now),
            None,
            "reported once"
        );

        let amending = mapping("after_completion: new_contract\n");
        let amended = apply(
            &amending,
            &job_in(JobState::WrittenBack),
            &update(55_000, "1", "v2"),
            now,
        )
        .unwrap();
        assert_eq!(amended.state, JobState::Pending);
        assert_eq!(amended.reason, SendReason::Amendment);
        assert_eq!(amended.history[0].outcome, "completed");
        // Signed but not yet written back: the amendment waits for the write-back.
        let waiting = apply(
            &amending,
            &job_in(JobState::Completed),
            &update(55_000, "1", "v2"),
            now,
        )
        .unwrap();
        assert_eq!(waiting.state, JobState::Completed);
        assert_eq!(waiting.next.unwrap().reason, SendReason::Amendment);
    }

    #[test]
    fn a_pending_or_parked_record_is_made_from_its_newest_version() {
        let now = Utc::now();
        let job = apply(
            &mapping(""),
            &job_in(JobState::Pending),
            &update(50_000, "9", "v2"),
            now,
        )
        .unwrap();
        assert_eq!(
            (job.state, job.record["phone"].as_str()),
            (JobState::Pending, Some("9"))
        );
        let mut parked = job_in(JobState::Parked);
        parked.parked_from = Some(JobState::Pending);
        parked.last_error = Some("template: missing field".into());
        let resumed = apply(&mapping(""), &parked, &update(50_000, "9", "v2"), now).unwrap();
        assert_eq!(resumed.state, JobState::Pending);
        assert_eq!(resumed.last_error, None);
    }

    #[test]
    fn legacy_keys_belong_to_their_record() {
        let mut legacy = job_in(JobState::Sent);
        legacy.key = "E1@2026-11-01T09:00:00Z".into();
        assert_eq!(legacy.record_key_for_index(), "E1");
        legacy.key = "E1-2027".into();
        assert_eq!(
            legacy.record_key_for_index(),
            "E1-2027",
            "an explicit key stays"
        );
    }

    #[test]
    fn a_broken_version_parks_what_was_not_made_and_notes_what_was() {
        let mapping = mapping("");
        let now = Utc::now();
        let broken = RecordUpdate {
            broken: Some(BrokenUpdate {
                reason: "GET /v1/employees/1: HTTP 404".into(),
                stream: Some("employees".into()),
            }),
            ..update(50_000, "1", "v2")
        };
        let parked = apply(&mapping, &job_in(JobState::Pending), &broken, now).unwrap();
        assert_eq!(parked.state, JobState::Parked);
        assert_eq!(parked.parked_from, Some(JobState::Pending));
        assert_eq!(parked.unread.as_deref(), Some("employees"));
        assert_eq!(parked.version, "v2");
        assert_eq!(
            parked.last_error.as_deref(),
            Some("GET /v1/employees/1: HTTP 404")
        );
        // The fixed version resumes it, read whole.
        let fixed = apply(&mapping, &parked, &update(50_000, "1", "v3"), now).unwrap();
        assert_eq!(fixed.state, JobState::Pending);
        assert_eq!(fixed.unread, None);
        assert_eq!(fixed.last_error, None);
        // A contract out stands; the broken version is a note.
        let sent = apply(&mapping, &job_in(JobState::Sent), &broken, now).unwrap();
        assert_eq!(sent.state, JobState::Sent);
        assert!(sent
            .attention
            .unwrap()
            .message
            .contains("cannot be used: GET /v1/employees/1: HTTP 404"));
    }

    #[test]
    fn skipped_by_a_person_stays_skipped_unlike_a_record_the_mapping_did_not_select() {
        let mapping = mapping("");
        let now = Utc::now();
        let mut by_person = job_in(JobState::Skipped);
        by_person.parked_from = None;
        assert_eq!(
            apply(&mapping, &by_person, &update(90_000, "1", "v2"), now),
            None
        );
        let mut not_selected = job_in(JobState::Skipped);
        not_selected.parked_from = Some(JobState::Pending);
        let resumed = apply(&mapping, &not_selected, &update(90_000, "1", "v2"), now).unwrap();
        assert_eq!(resumed.state, JobState::Pending);
        assert_eq!(resumed.record["salary"], 90_000);
    }
}
