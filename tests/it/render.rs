//! Contract rendering checked by independent tools: `pdftotext` finds every sentence exactly in
//! five languages, `pdffonts` finds every font embedded, `qpdf --check` finds the file clean;
//! record values print literally whatever syntax they hold; signature anchors are found by the
//! API's send check; errors name the template's line.

use crate::common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn render_cli(
    dir: &Path,
    name: &str,
    template: &str,
    data: &Value,
) -> Result<std::path::PathBuf, String> {
    let template_path = dir.join(name);
    std::fs::write(&template_path, template).unwrap();
    let data_path = dir.join(format!("{name}.json"));
    std::fs::write(&data_path, data.to_string()).unwrap();
    let output_path = dir.join(format!("{name}.pdf"));
    let (status, _, stderr) = run_cli(&[
        "render",
        template_path.to_str().unwrap(),
        "--data",
        data_path.to_str().unwrap(),
        "-o",
        output_path.to_str().unwrap(),
    ]);
    if status.success() {
        Ok(output_path)
    } else {
        Err(stderr)
    }
}

fn tool(program: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|_| panic!("{program} is needed (CI installs poppler-utils and qpdf)"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// Text as pdftotext extracts it, with all white space (incl. no-break spaces) folded.
fn extracted_text(pdf: &Path) -> String {
    let (ok, text) = tool("pdftotext", &[pdf.to_str().unwrap(), "-"]);
    assert!(ok, "{text}");
    fold(&text)
}

fn fold(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c == '\u{a0}' || c == '\u{202f}')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn assert_clean(pdf: &Path) {
    let (ok, report) = tool("qpdf", &["--check", pdf.to_str().unwrap()]);
    assert!(ok, "qpdf --check: {report}");
    let (ok, fonts) = tool("pdffonts", &[pdf.to_str().unwrap()]);
    assert!(ok, "{fonts}");
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "no fonts listed: {fonts}");
    for row in rows {
        let columns: Vec<&str> = row.split_whitespace().collect();
        // name type [type2] encoding emb sub uni object ID: `emb` is the 4th from the end.
        assert_eq!(
            columns[columns.len() - 5],
            "yes",
            "font not embedded: {row}"
        );
    }
}

#[test]
fn contracts_in_five_languages_come_out_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("en", "Bob O'Brien", "The employment of {{name}} starts on {{date start \"d MMMM yyyy\" \"en\"}}; the annual salary is {{money salary \"EUR\" \"en\"}}.", "The employment of Bob O'Brien starts on 4 January 2027; the annual salary is €52,000.00."),
        ("fr", "Élodie Martin", "Le contrat de {{name}} commence le {{date start \"d MMMM yyyy\" \"fr\"}} ; la rémunération annuelle est de {{money salary \"EUR\" \"fr\"}}. Où ça ? Déjà l'été !", "Le contrat de Élodie Martin commence le 4 janvier 2027 ; la rémunération annuelle est de 52 000,00 €. Où ça ? Déjà l'été !"),
        ("de", "Jürgen Groß", "Der Vertrag mit {{name}} beginnt am {{date start \"d. MMMM yyyy\" \"de\"}}; das Jahresgehalt beträgt {{money salary \"EUR\" \"de\"}}. Größe, Übung, Straße.", "Der Vertrag mit Jürgen Groß beginnt am 4. Januar 2027; das Jahresgehalt beträgt 52.000,00 €. Größe, Übung, Straße."),
        ("el", "Μαρία Παπαδοπούλου", "Η σύμβαση εργασίας με την {{name}} αρχίζει στις {{date start \"d MMMM yyyy\" \"el\"}}· ο ετήσιος μισθός είναι {{money salary \"EUR\" \"el\"}}.", "Η σύμβαση εργασίας με την Μαρία Παπαδοπούλου αρχίζει στις 4 Ιανουαρίου 2027· ο ετήσιος μισθός είναι 52.000,00 €."),
        ("pl", "Łukasz Żółkiewski", "Umowa o pracę z {{name}} zaczyna się {{date start \"d MMMM yyyy\" \"pl\"}}; wynagrodzenie roczne: {{money salary \"PLN\" \"pl\"}}. Zażółć gęślą jaźń.", "Umowa o pracę z Łukasz Żółkiewski zaczyna się 4 stycznia 2027; wynagrodzenie roczne: 52 000,00 zł. Zażółć gęślą jaźń."),
    ];
    for (lang, name, sentence, expected) in cases {
        let template = format!("---\nlang: {lang}\n---\n# {lang}\n\n{sentence}\n\n{{{{signature \"employee\" \"{name}\"}}}}\n");
        let pdf = render_cli(
            dir.path(),
            &format!("contract-{lang}.md.hbs"),
            &template,
            &json!({"name": name, "start": "2027-01-04", "salary": 52000}),
        )
        .unwrap();
        let text = extracted_text(&pdf);
        assert!(
            text.contains(&fold(expected)),
            "[{lang}] expected {expected:?} in {text:?}"
        );
        assert!(text.contains(name), "[{lang}] signature label");
        let footer = match lang {
            "en" => "Page 1 of 1",
            "fr" => "Page 1 sur 1",
            "de" => "Seite 1 von 1",
            "el" => "Σελίδα 1 από 1",
            "pl" => "Strona 1 z 1",
            other => unreachable!("no footer expected for {other}"),
        };
        assert!(
            text.contains(footer),
            "[{lang}] page numbers: {footer:?} in {text:?}"
        );
        assert_clean(&pdf);
    }
}

#[test]
fn record_values_print_literally() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = r#"*Bob* _x_ #import "x" {{x}} $y$ <script>a</script> [link](http://e.example) `c` \n # Heading = Title @ref"#;
    let template = "Name: {{name}}\n\nAgain: **{{name}}**\n\n- {{name}}\n";
    let pdf = render_cli(
        dir.path(),
        "literal.md.hbs",
        template,
        &json!({"name": hostile}),
    )
    .unwrap();
    let text = extracted_text(&pdf);
    assert_eq!(text.matches(&fold(hostile)).count(), 3, "{text}");
    assert!(!text.contains("sb:sig"));

    // A value cannot forge a signature block either.
    let forged = format!("{}sig|boss|x{}", '\u{E000}', '\u{E001}');
    let pdf = render_cli(
        dir.path(),
        "forged.md.hbs",
        "{{name}}\n",
        &json!({"name": forged}),
    )
    .unwrap();
    assert!(!extracted_text(&pdf).contains("sb:sig:boss"));

    // A .typ template reads the record as data.
    let typ = "#let data = json(\"data.json\")\nHello #data.name!\n";
    let pdf = render_cli(dir.path(), "direct.typ", typ, &json!({"name": hostile})).unwrap();
    assert!(extracted_text(&pdf).contains(&format!("Hello {}!", fold(hostile))));
}

#[tokio::test]
async fn signature_anchors_are_found_by_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let template = "# Agreement\n\nWe agree.\n\n{{signature \"employee\" \"Employee\"}}\n\n{{pagebreak}}\n\nAnnex.\n\n{{signature \"employer\" \"Employer\"}}\n";
    let pdf = render_cli(dir.path(), "anchors.md.hbs", template, &json!({})).unwrap();
    let bytes = std::fs::read(&pdf).unwrap();
    let pages = signbridge::pdf::page_texts(&bytes).unwrap();
    assert_eq!(pages.len(), 2, "the page break made a second page");
    assert_eq!(
        signbridge::pdf::count_occurrences(&pages[..1], "sb:sig:employee"),
        1
    );
    assert_eq!(
        signbridge::pdf::count_occurrences(&pages[1..], "sb:sig:employer"),
        1
    );

    let server = Server::start().await;
    let document = server.upload(bytes, "agreement.pdf").await;
    let body = json!({
        "subject": "Agreement",
        "documentIds": [document["id"]],
        "recipients": [
            {"email": "employee@example.com", "name": "Employee"},
            {"email": "employer@example.com", "name": "Employer", "signingOrder": 2}
        ],
        "fields": [
            {"recipientEmail": "employee@example.com", "anchorText": "sb:sig:employee"},
            {"recipientEmail": "employer@example.com", "anchorText": "sb:sig:employer"}
        ]
    });
    let envelope = expect_status(
        server.post("/envelopes").json(&body).send().await.unwrap(),
        201,
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    assert_eq!(
        server.send(id).await["status"],
        "SENT",
        "both anchors were found"
    );
}

#[test]
fn errors_point_at_the_template_line() {
    let dir = tempfile::tempdir().unwrap();
    let template = "---\nlang: en\n---\n# Contract\n\nHello {{employee.firstName}},\n\nyour manager is {{manager.name}}.\n";
    let error = render_cli(
        dir.path(),
        "missing.md.hbs",
        template,
        &json!({"employee": {"firstName": "Ann"}}),
    )
    .unwrap_err();
    assert!(error.contains("missing.md.hbs:8:"), "{error}");
    assert!(error.contains("manager.name"), "{error}");
    let error = render_cli(
        dir.path(),
        "syntax.md.hbs",
        "line one\n\n{{#if x}}\nunclosed\n",
        &json!({"x": true}),
    )
    .unwrap_err();
    assert!(error.contains("syntax.md.hbs:"), "{error}");
    let error = render_cli(
        dir.path(),
        "front.md.hbs",
        "---\nlang: en\nfont: comic\n---\nx\n",
        &json!({}),
    )
    .unwrap_err();
    assert!(error.contains("font"), "{error}");
    let error = render_cli(
        dir.path(),
        "broken.typ",
        "= Title\n\n#let x = (\n",
        &json!({}),
    )
    .unwrap_err();
    assert!(error.contains("broken.typ:3:"), "{error}");
}

#[test]
fn shipped_example_templates_render_with_their_samples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let dir = tempfile::tempdir().unwrap();
    for (template, sample, anchors) in [
        (
            "employment-contract.en.md.hbs",
            "new-hire.json",
            ["sb:sig:employee", "sb:sig:employer"],
        ),
        (
            "employment-contract.fr.md.hbs",
            "new-hire.json",
            ["sb:sig:employee", "sb:sig:employer"],
        ),
        (
            "services-agreement.en.md.hbs",
            "deal.json",
            ["sb:sig:client", "sb:sig:provider"],
        ),
        (
            "services-agreement.fr.md.hbs",
            "deal.json",
            ["sb:sig:client", "sb:sig:provider"],
        ),
    ] {
        let text = std::fs::read_to_string(root.join("templates").join(template)).unwrap();
        let data: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("samples").join(sample)).unwrap(),
        )
        .unwrap();
        let pdf = render_cli(dir.path(), template, &text, &data)
            .unwrap_or_else(|e| panic!("{template}: {e}"));
        let extracted = extracted_text(&pdf);
        for anchor in anchors {
            assert_eq!(extracted.matches(anchor).count(), 1, "{template}: {anchor}");
        }
        assert_clean(&pdf);
    }
}
