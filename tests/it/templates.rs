//! Envelope templates through the API and the sync daemon: a template made from an upload is
//! listed in Certyneo's shape and read whole; an envelope made from it (recipients matched by
//! `templateRole` and by order) is signed through the signing pages and sealed with the stamps
//! where the template put them; requests that do not fit the template are refused naming the
//! field; deleting a template (or its original upload) leaves envelopes made from it whole;
//! an envelope saved as a template makes envelopes that send; and a `template_id` mapping sends
//! one contract per record without rendering or uploading anything.

use crate::common::*;
use crate::evidence::{path_str, sign_sent, tool};
use crate::sync::{envelopes_of, sign_until, sync_key, validate, Pipeline};
use serde_json::{json, Value};

/// Where the template puts the employee's signature on page 2 (points, y from the top).
const EMPLOYEE_SIGNATURE: (f64, f64, f64, f64) = (320.0, 560.0, 200.0, 50.0);
/// Where it puts HR's.
const HR_SIGNATURE: (f64, f64, f64, f64) = (72.0, 560.0, 200.0, 50.0);

async fn post_json(server: &Server, key: &str, path: &str, body: &Value) -> reqwest::Response {
    server
        .http
        .post(server.url(path))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn create_envelope(server: &Server, body: Value) -> reqwest::Response {
    server.post("/envelopes").json(&body).send().await.unwrap()
}

fn template_body(document_id: &Value) -> Value {
    let (ex, ey, ew, eh) = EMPLOYEE_SIGNATURE;
    let (hx, hy, hw, hh) = HR_SIGNATURE;
    json!({
        "name": "Employment contract",
        "description": "Two pages; the employee signs, then HR",
        "documentIds": [document_id],
        "roles": [
            {"name": "Employee", "role": "SIGNER", "signingOrder": 1},
            {"name": "HR", "role": "SIGNER", "signingOrder": 2}
        ],
        "fields": [
            {"role": "Employee", "documentIndex": 0, "pageNumber": 2, "fieldType": "SIGNATURE", "x": ex, "y": ey, "width": ew, "height": eh},
            {"role": "employee", "documentIndex": 0, "pageNumber": 2, "fieldType": "DATE_SIGNED", "x": ex, "y": ey + 70.0, "width": 120, "height": 16},
            {"role": "HR", "documentIndex": 0, "pageNumber": 2, "fieldType": "SIGNATURE", "x": hx, "y": hy, "width": hw, "height": hh}
        ],
        "subject": "Your employment contract",
        "message": "Please read both pages and sign.",
        "locale": "fr"
    })
}

/// Uploads a two-page contract with `key` and makes the employment template of it; returns
/// (template, uploaded document).
async fn employment_template(server: &Server, key: &str) -> (Value, Value) {
    let uploaded = expect_status(
        server
            .upload_raw(key, pdf(2, "Employment contract"), "employment.pdf")
            .await,
        201,
    )
    .await;
    let response = post_json(server, key, "/templates", &template_body(&uploaded["id"])).await;
    let location = response.headers().get("location").cloned();
    let template = expect_status(response, 201).await;
    assert_eq!(
        location.unwrap().to_str().unwrap(),
        format!("/api/v1/templates/{}", template["id"].as_str().unwrap())
    );
    (template, uploaded)
}

/// Creates an envelope from `template` for an HR person (by `templateRole`) and an employee
/// (by order); asserts 201 and returns it.
async fn envelope_from(server: &Server, template: &Value) -> Value {
    expect_status(
        server
            .post("/envelopes")
            .json(&json!({
                "templateId": template["id"],
                "recipients": [
                    {"email": "hr@example.com", "name": "Hélène Ressources", "templateRole": "HR"},
                    {"email": "ana@example.com", "name": "Ana Lima"}
                ]
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await
}

#[tokio::test]
async fn a_template_is_listed_in_certyneos_shape_and_read_whole() {
    let mut server = Server::start().await;
    let listed = expect_status(server.get("/templates").send().await.unwrap(), 200).await;
    assert_eq!(listed["data"], json!([]));
    assert_eq!(listed["pagination"]["total"], 0);

    let (template, uploaded) = employment_template(&server, &server.key).await;
    let id = template["id"].as_str().unwrap();
    assert!(id.starts_with("tpl_") && id.len() == 30, "{template}");
    assert_eq!(
        template["roles"][1],
        json!({"name": "HR", "role": "SIGNER", "signingOrder": 2})
    );
    // The role name is the template's own spelling, whatever case the field used.
    assert_eq!(template["fields"][1]["role"], "Employee");
    assert_eq!(template["fields"][0]["pageNumber"], 2);
    assert_eq!(template["fields"][0]["x"], 320.0);
    assert_eq!(template["fields"][0]["y"], 560.0);
    assert_eq!(
        template["documents"],
        json!([{"name": "employment.pdf", "sha256": uploaded["sha256"], "pageCount": 2, "size": uploaded["size"]}])
    );

    let listed = expect_status(server.get("/templates").send().await.unwrap(), 200).await;
    assert_eq!(
        listed,
        json!({
            "data": [{
                "id": id,
                "name": "Employment contract",
                "description": "Two pages; the employee signs, then HR",
                "signerCount": 2,
                "documentCount": 1
            }],
            "pagination": {"total": 1, "page": 1, "pageSize": 20, "pages": 1}
        })
    );
    let whole = expect_status(
        server
            .get(&format!("/templates/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(whole, template);
    for key in [
        "name",
        "description",
        "documents",
        "roles",
        "fields",
        "subject",
        "message",
        "locale",
        "createdAt",
        "updatedAt",
    ] {
        assert!(!whole[key].is_null(), "`{key}` missing: {whole}");
    }

    // On disk once answered (kill -9), and test and live never see each other's templates.
    server.kill9();
    let data_dir = server.data_dir();
    let (status, live_key, stderr) = server.cli(&[
        "keys",
        "create",
        "--env",
        "live",
        "--data-dir",
        path_str(&data_dir),
    ]);
    assert!(status.success(), "{stderr}");
    server.start_again().await;
    let after = expect_status(
        server
            .get(&format!("/templates/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(after, template);
    let live = |path: &str| {
        server
            .http
            .get(server.url(path))
            .bearer_auth(live_key.trim())
            .send()
    };
    expect_error(
        live(&format!("/templates/{id}")).await.unwrap(),
        404,
        "not_found",
    )
    .await;
    let listed = expect_status(live("/templates").await.unwrap(), 200).await;
    assert_eq!(listed["pagination"]["total"], 0);
}

#[tokio::test]
async fn an_envelope_from_a_template_is_signed_and_sealed_with_the_stamps_where_it_put_them() {
    let server = Server::start().await;
    let (template, _) = employment_template(&server, &server.key).await;
    let envelope = envelope_from(&server, &template).await;
    assert_eq!(envelope["templateId"], template["id"]);
    assert_eq!(envelope["subject"], "Your employment contract");
    assert_eq!(envelope["message"], "Please read both pages and sign.");
    assert_eq!(envelope["locale"], "fr");
    assert_eq!(
        envelope["documents"][0]["sha256"],
        template["documents"][0]["sha256"]
    );
    // HR by its templateRole, the employee by order.
    let recipients = &envelope["recipients"];
    assert_eq!(recipients[0]["email"], "hr@example.com");
    assert_eq!(recipients[0]["signingOrder"], 2);
    assert_eq!(recipients[1]["email"], "ana@example.com");
    assert_eq!(recipients[1]["signingOrder"], 1);
    let owners: Vec<(&str, &str)> = envelope["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["recipientEmail"].as_str().unwrap(),
                f["fieldType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        owners,
        [
            ("ana@example.com", "SIGNATURE"),
            ("ana@example.com", "DATE_SIGNED"),
            ("hr@example.com", "SIGNATURE")
        ]
    );

    let id = envelope["id"].as_str().unwrap();
    let sent = server.send(id).await;
    sign_sent(&server, &sent).await;
    server.wait_completed(id).await;
    let response = server.download(id, "signed-document").await;
    assert_eq!(response.status(), 200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.pdf");
    std::fs::write(&path, response.bytes().await.unwrap()).unwrap();

    let page = |number: &str| {
        tool(
            "pdftotext",
            &["-f", number, "-l", number, path_str(&path), "-"],
        )
        .1
    };
    let (first, second) = (page("1"), page("2"));
    for name in ["Ana Lima", "Hélène Ressources"] {
        let line = format!("signed by {name}");
        assert!(second.contains(&line), "`{line}` not on page 2:\n{second}");
        assert!(!first.contains(&line), "`{line}` on page 1:\n{first}");
    }
    // Each caption lies within its role's field, as the template placed it.
    for (name, (x, y, width, height)) in [
        ("Ana Lima", EMPLOYEE_SIGNATURE),
        ("Hélène Ressources", HR_SIGNATURE),
    ] {
        let crop = |v: f64| format!("{}", v.round() as i64);
        let inside = tool(
            "pdftotext",
            &[
                "-f",
                "2",
                "-l",
                "2",
                "-r",
                "72",
                "-x",
                &crop(x),
                "-y",
                &crop(y),
                "-W",
                &crop(width),
                "-H",
                &crop(height),
                path_str(&path),
                "-",
            ],
        )
        .1;
        assert!(
            inside.contains(&format!("signed by {name}")),
            "{name}'s caption is not inside their field {x},{y} {width}×{height}:\n{inside}"
        );
    }
    let (ok, verified) = tool(
        BIN,
        &[
            "verify",
            path_str(&path),
            "--data-dir",
            path_str(&server.data_dir()),
        ],
    );
    assert!(ok, "{verified}");
}

#[tokio::test]
async fn requests_that_do_not_fit_the_template_are_refused_naming_the_field() {
    let server = Server::start().await;
    let (template, uploaded) = employment_template(&server, &server.key).await;
    let id = template["id"].as_str().unwrap();

    let both = create_envelope(
        &server,
        json!({
            "subject": "x", "templateId": id, "documentIds": [uploaded["id"]],
            "recipients": [{"email": "a@example.com"}, {"email": "b@example.com"}]
        }),
    )
    .await;
    expect_error(both, 400, "template_and_documents").await;

    let unknown_role = expect_error(
        create_envelope(
            &server,
            json!({
                "templateId": id,
                "recipients": [
                    {"email": "a@example.com", "templateRole": "Manager"},
                    {"email": "b@example.com"}
                ]
            }),
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(
        unknown_role["details"][0]["field"],
        "recipients[0].templateRole"
    );
    let why = unknown_role["details"][0]["message"].as_str().unwrap();
    assert!(
        why.contains("Manager") && why.contains("Employee, HR"),
        "{why}"
    );

    let too_few = expect_error(
        create_envelope(
            &server,
            json!({"templateId": id, "recipients": [{"email": "a@example.com"}]}),
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(too_few["details"][0]["field"], "recipients");
    let why = too_few["details"][0]["message"].as_str().unwrap();
    assert!(why.contains("2 role(s) (Employee, HR)"), "{why}");

    let contradicting = expect_error(
        create_envelope(
            &server,
            json!({
                "templateId": id,
                "recipients": [
                    {"email": "a@example.com", "templateRole": "HR", "signingOrder": 1},
                    {"email": "b@example.com"}
                ]
            }),
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(
        contradicting["details"][0]["field"],
        "recipients[0].signingOrder"
    );

    let missing = expect_error(
        create_envelope(
            &server,
            json!({
                "templateId": "tpl_01JD5Q9M3V0F8W2K7T4R6Y1ZXC",
                "recipients": [{"email": "a@example.com"}]
            }),
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(missing["details"][0]["field"], "templateId");

    let role_without_template = expect_error(
        create_envelope(
            &server,
            json!({
                "subject": "x", "documentIds": [uploaded["id"]],
                "recipients": [{"email": "a@example.com", "templateRole": "HR"}]
            }),
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(
        role_without_template["details"][0]["field"],
        "recipients[0].templateRole"
    );

    // PATCH re-validates the whole template: a field on a page the document lacks.
    let mut fields = template["fields"].clone();
    fields[0]["pageNumber"] = json!(3);
    let refused = expect_error(
        server
            .patch(&format!("/templates/{id}"))
            .json(&json!({"fields": fields}))
            .send()
            .await
            .unwrap(),
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(refused["details"][0]["field"], "fields[0].pageNumber");
    // Removing HR's signature leaves a signer without one.
    let unsigned = expect_error(
        server
            .patch(&format!("/templates/{id}"))
            .json(&json!({"fields": [template["fields"][0], template["fields"][1]]}))
            .send()
            .await
            .unwrap(),
        409,
        "signer_without_field",
    )
    .await;
    assert!(
        unsigned["error"].as_str().unwrap().contains("`HR`"),
        "{unsigned}"
    );
    let unchanged = expect_status(
        server
            .get(&format!("/templates/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(unchanged, template);

    let patched = expect_status(
        server
            .patch(&format!("/templates/{id}"))
            .json(&json!({"name": "Employment contract v2", "description": null, "locale": "de"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(patched["name"], "Employment contract v2");
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(patched["locale"], "de");
    assert_eq!(patched["fields"], template["fields"]);
    let listed = expect_status(server.get("/templates").send().await.unwrap(), 200).await;
    assert_eq!(listed["data"][0]["name"], "Employment contract v2");
    assert_eq!(listed["data"][0]["description"], "");

    // The request's own subject, message and locale win over the template's.
    let own = expect_status(
        create_envelope(
            &server,
            json!({
                "templateId": id, "subject": "Contrat", "message": "Bonjour", "locale": "nl",
                "recipients": [{"email": "a@example.com"}, {"email": "b@example.com"}]
            }),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        (&own["subject"], &own["message"], &own["locale"]),
        (&json!("Contrat"), &json!("Bonjour"), &json!("nl"))
    );
}

#[tokio::test]
async fn a_deleted_template_is_gone_and_envelopes_made_from_it_still_complete() {
    let server = Server::start().await;
    let (template, uploaded) = employment_template(&server, &server.key).await;
    let id = template["id"].as_str().unwrap();
    // The template keeps its own reference to the bytes: the upload can go.
    expect_status(
        server
            .delete(&format!("/documents/{}", uploaded["id"].as_str().unwrap()))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let envelope = envelope_from(&server, &template).await;
    let deleted = expect_status(
        server
            .delete(&format!("/templates/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(deleted, json!({"success": true}));
    expect_error(
        server
            .get(&format!("/templates/{id}"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    expect_error(
        server
            .delete(&format!("/templates/{id}"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    let listed = expect_status(server.get("/templates").send().await.unwrap(), 200).await;
    assert_eq!(listed["pagination"]["total"], 0);

    // Made before the deletion: it sends, is signed and sealed from its own copy.
    let envelope_id = envelope["id"].as_str().unwrap();
    let sent = server.send(envelope_id).await;
    sign_sent(&server, &sent).await;
    server.wait_completed(envelope_id).await;
    let signed = server.download(envelope_id, "signed-document").await;
    assert_eq!(signed.status(), 200);
    let document_id = envelope["documents"][0]["id"].as_str().unwrap();
    let original = server.document_bytes(&server.key, document_id).await;
    assert!(
        signed.bytes().await.unwrap().starts_with(&original),
        "the signed document starts with the template's original bytes"
    );
}

#[tokio::test]
async fn an_envelope_saved_as_a_template_makes_envelopes_that_send() {
    let server = Server::start().await;
    let uploaded = server
        .upload(pdf(1, "Services agreement"), "services.pdf")
        .await;
    let source = expect_status(
        server
            .post("/envelopes")
            .json(&json!({
                "subject": "Services agreement",
                "message": "Sign when ready",
                "locale": "es",
                "documentIds": [uploaded["id"]],
                "recipients": [
                    {"email": "client@example.com", "name": "Marta Cliente", "signingOrder": 1},
                    {"email": "owner@example.com", "signingOrder": 2},
                    {"email": "cc@example.com", "name": "Carla Copia", "role": "CARBON_COPY", "signingOrder": 2}
                ],
                "fields": [
                    {"recipientEmail": "client@example.com", "fieldType": "SIGNATURE", "x": 72, "y": 600},
                    {"recipientEmail": "owner@example.com", "fieldType": "SIGNATURE", "x": 320, "y": 600},
                    {"recipientEmail": "owner@example.com", "fieldType": "TEXT", "x": 320, "y": 660, "width": 150, "height": 16}
                ]
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let source_id = source["id"].as_str().unwrap();
    let template = expect_status(
        server
            .post(&format!("/envelopes/{source_id}/save-as-template"))
            .json(&json!({"description": "From the services envelope"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(template["name"], "Services agreement");
    assert_eq!(template["description"], "From the services envelope");
    assert_eq!(template["subject"], "Services agreement");
    assert_eq!(template["message"], "Sign when ready");
    assert_eq!(template["locale"], "es");
    // Named after the recipients; the one without a name gets a generated one.
    assert_eq!(
        template["roles"],
        json!([
            {"name": "Marta Cliente", "role": "SIGNER", "signingOrder": 1},
            {"name": "Signer 2", "role": "SIGNER", "signingOrder": 2},
            {"name": "Carla Copia", "role": "CARBON_COPY", "signingOrder": 2}
        ])
    );
    let roles: Vec<&str> = template["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["Marta Cliente", "Signer 2", "Signer 2"]);
    assert_eq!(template["fields"][2]["fieldType"], "TEXT");
    assert_eq!(
        template["documents"][0]["sha256"],
        source["documents"][0]["sha256"]
    );

    let made = expect_status(
        server
            .post("/envelopes")
            .json(&json!({
                "templateId": template["id"],
                "recipients": [
                    {"email": "copy@example.com", "name": "Copia", "templateRole": "Carla Copia"},
                    {"email": "new-client@example.com", "name": "Nuevo Cliente"},
                    {"email": "new-owner@example.com", "name": "Nueva Dueña"}
                ]
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let sent = server.send(made["id"].as_str().unwrap()).await;
    assert_eq!(sent["status"], "SENT", "{sent}");
    let by_email = |email: &str| {
        sent["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["email"] == email)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_email("copy@example.com")["role"], "CARBON_COPY");
    assert_eq!(by_email("new-client@example.com")["signingOrder"], 1);
    assert_eq!(by_email("new-owner@example.com")["signingOrder"], 2);
    assert_eq!(
        sent["fields"][2]["recipientEmail"], "new-owner@example.com",
        "{sent}"
    );

    // An envelope whose signer has no SIGNATURE field cannot become a template.
    let unsigned = server.draft_envelope("No fields").await;
    expect_error(
        server
            .post(&format!(
                "/envelopes/{}/save-as-template",
                unsigned["id"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap(),
        409,
        "signer_without_field",
    )
    .await;
}

const TEMPLATE_MAPPING: &str = r#"source: hris
when: '{{eq status "hired"}}'
template_id: TEMPLATE_ID
sample: sample.json
subject: "Contract — {{name}}"
recipients:
  - email: "hr@acme.example"
    name: "Hélène Ressources"
    template_role: HR
  - email: "{{email}}"
    name: "{{name}}"
on_completed:
  files: [signed_document]
  fields:
    contractStatus: signed
"#;

#[tokio::test]
async fn a_template_id_mapping_sends_one_contract_per_record_from_the_template() {
    let (pipeline, config) = Pipeline::new("");
    let mut server = Server::start_with_config(Some(&config)).await;
    // The daemon's own key (live): the template must be in its environment.
    eventually(20, || {
        let path = server.data_dir().join("sync/api-key");
        async move { path.exists().then_some(()) }
    })
    .await;
    let key = sync_key(&server);
    let (template, _) = employment_template(&server, &key).await;
    let template_id = template["id"].as_str().unwrap();
    std::fs::write(
        pipeline.root().join("mappings/onboarding.yaml"),
        TEMPLATE_MAPPING.replace("TEMPLATE_ID", template_id),
    )
    .unwrap();
    let (code, text) = validate(pipeline.root(), &config);
    assert_eq!(code, 0, "{text}");
    server.terminate();
    server.start_again().await;

    pipeline.add_records(0..3);
    let mut signed = std::collections::HashSet::new();
    sign_until(&server, &mut signed, 6, 90).await;
    let done = pipeline.wait_written_back(3, 90).await;
    assert!(done.iter().all(|s| s["state"] == "completed"), "{done:?}");

    let envelopes = envelopes_of(&server, &key).await;
    assert_eq!(envelopes.len(), 3, "one envelope per record");
    let mut employees: Vec<&str> = Vec::new();
    for envelope in &envelopes {
        assert_eq!(envelope["templateId"], template_id, "{envelope}");
        assert_eq!(envelope["status"], "COMPLETED");
        assert_eq!(
            envelope["documents"][0]["sha256"], template["documents"][0]["sha256"],
            "the template's document, not a rendered one"
        );
        assert_eq!(envelope["fields"].as_array().unwrap().len(), 3);
        let hr = &envelope["recipients"][0];
        assert_eq!(
            (&hr["email"], &hr["signingOrder"]),
            (&json!("hr@acme.example"), &json!(2))
        );
        assert_eq!(envelope["recipients"][1]["signingOrder"], 1);
        employees.push(envelope["recipients"][1]["email"].as_str().unwrap());
    }
    employees.sort();
    assert_eq!(
        employees,
        [
            "employee0@example.com",
            "employee1@example.com",
            "employee2@example.com"
        ]
    );
    // Nothing was uploaded: every document of the key's environment is the template's bytes.
    let documents = expect_status(
        server
            .http
            .get(server.url("/documents?limit=100"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let hashes: Vec<&Value> = documents["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["sha256"])
        .collect();
    assert_eq!(hashes.len(), 4, "the upload and one copy per envelope");
    assert!(
        hashes
            .iter()
            .all(|h| **h == template["documents"][0]["sha256"]),
        "{documents}"
    );
}

#[test]
fn validate_wants_exactly_one_of_template_and_template_id() {
    let (pipeline, config) = Pipeline::new("");
    let root = pipeline.root();
    let mapping = root.join("mappings/onboarding.yaml");
    let with_id = TEMPLATE_MAPPING.replace("TEMPLATE_ID", "tpl_01JD5Q9M3V0F8W2K7T4R6Y1ZXC");

    std::fs::write(&mapping, &with_id).unwrap();
    let (code, text) = validate(root, &config);
    assert_eq!(code, 0, "{text}");

    std::fs::write(
        &mapping,
        with_id.replace(
            "sample: sample.json",
            "template: contract.md.hbs\nsample: sample.json",
        ),
    )
    .unwrap();
    let (code, text) = validate(root, &config);
    assert_eq!(code, 78, "{text}");
    assert!(
        text.contains(&format!("{}:3:1", mapping.display()))
            && text.contains("give `template` (a contract to render) or `template_id`")
            && text.contains("not both"),
        "{text}"
    );

    std::fs::write(
        &mapping,
        with_id.replace("template_id: tpl_01JD5Q9M3V0F8W2K7T4R6Y1ZXC\n", ""),
    )
    .unwrap();
    let (code, text) = validate(root, &config);
    assert_eq!(code, 78, "{text}");
    assert!(
        text.contains(&format!("{}:1:1", mapping.display()))
            && text.contains("a mapping needs `template`")
            && text.contains("or `template_id`"),
        "{text}"
    );

    // A rendered contract's recipient cannot name a template role.
    std::fs::write(
        &mapping,
        crate::sync::MAPPING.replace("    fields: employee", "    template_role: HR"),
    )
    .unwrap();
    let (code, text) = validate(root, &config);
    assert_eq!(code, 78, "{text}");
    assert!(
        text.contains("template_role") && text.contains("needs `template_id`"),
        "{text}"
    );
}
