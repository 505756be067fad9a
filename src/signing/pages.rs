//! The signer's pages as server-rendered HTML: no framework, no CDN, usable without
//! JavaScript (a typed signature), with an optional drawn signature when scripts run. The
//! documents show as page images with the fields on them. Every text a sender or recipient
//! typed is escaped.

use super::i18n::{escape, words, Words};
use crate::esign::model::{FieldType, RecipientRole, RecipientStatus};
use crate::esign::{consent_text, page_language, DocumentLayout, SigningState, SigningView};
use crate::pdf::raster::{DESKTOP_WIDTH, PHONE_WIDTH};

const STYLE: &str = r#"
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2433;background:#f3f5f8}
main{max-width:860px;margin:0 auto;padding:16px}header{padding:8px 0 4px}h1{font-size:1.5rem;margin:.2em 0}h2{font-size:1.1rem}
.sender{color:#4a5568;margin:0}.card{background:#fff;border:1px solid #dde3ea;border-radius:10px;padding:16px;margin:12px 0}
.message{white-space:pre-wrap}.state{font-size:1.1rem}.error{border-color:#c53030;background:#fff5f5;color:#822727}
figure{margin:0 0 16px}figcaption{font-size:.9rem;color:#4a5568;padding-top:4px}
.page{position:relative;margin:0 0 12px;border:1px solid #cbd5e0;border-radius:4px;background:#fff;overflow:hidden}.page img{display:block;width:100%;height:auto}
.field{position:absolute;box-sizing:border-box;border:2px dashed #2b6cb0;background:rgba(43,108,176,.10);border-radius:3px;overflow:hidden}
.field span{font-size:.7rem;line-height:1.1;color:#1a365d;padding:1px 3px;display:block}.field.other{border-color:#718096;background:rgba(113,128,150,.10)}.field.other span{color:#2d3748}
a.field{text-decoration:none}a.field:focus{outline:3px solid #dd6b20;outline-offset:2px}.field.current{border-style:solid;border-color:#dd6b20;background:rgba(221,107,32,.12)}.field.done{border-style:solid;border-color:#2f855a;background:rgba(47,133,90,.10)}
.field.filled{border:0;background:transparent}.field.filled span{font-size:.9rem;color:#1a237e;font-style:italic}
.guide{position:sticky;top:0;z-index:2;display:flex;gap:12px;align-items:center;justify-content:space-between;background:#ebf4ff;border:1px solid #90cdf4;border-radius:8px;padding:6px 8px 6px 12px;margin:0 0 12px}.guide button{min-height:44px}
label{display:block;font-weight:600;margin:12px 0 4px}input[type=text],textarea{width:100%;padding:10px;font:inherit;border:1px solid #a0aec0;border-radius:6px}
.consent{display:flex;gap:10px;align-items:flex-start;margin:16px 0}.consent input{margin-top:5px;width:20px;height:20px}.consent label{font-weight:400;margin:0}
button,.button{display:inline-block;font:inherit;font-weight:600;padding:12px 24px;border-radius:6px;border:0;background:#2b6cb0;color:#fff;cursor:pointer;text-decoration:none}
button:focus,a:focus,input:focus,textarea:focus{outline:3px solid #f6ad55;outline-offset:2px}.secondary{background:#4a5568}.danger{background:#c53030}
canvas{width:100%;max-width:500px;height:150px;border:1px dashed #718096;border-radius:6px;background:#fff;touch-action:none}
details summary{cursor:pointer;font-weight:600;color:#c53030;min-height:44px;display:flex;align-items:center}.logo{display:block;max-height:48px;max-width:60%;margin:4px 0 8px}
.consent{min-height:44px}.consent input{width:24px;height:24px}figcaption a{display:inline-block;padding:10px 0}.meta{font-size:.9rem;color:#4a5568}
"#;

fn page(words: &Words, title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{title}</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>\n",
        lang = words.lang,
        title = escape(title),
    )
}

fn date(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The page a signing link shows, for whatever state the recipient is in.
pub fn signing_page(
    view: &SigningView,
    layouts: &[DocumentLayout],
    token: &str,
    error: Option<&str>,
) -> String {
    let words = words(page_language(&view.envelope));
    let envelope = &view.envelope;
    let recipient = &view.recipient;
    let base = format!("/sign/{token}");
    let mut body = String::new();
    let invites = if recipient.role == RecipientRole::Approver {
        words.invites_approve
    } else {
        words.invites_sign
    };
    body.push_str(&format!(
        "<header>{}<p class=\"sender\">{} {}</p><h1>{}</h1>",
        if view.has_logo {
            format!(
                "<img class=\"logo\" src=\"/sign/assets/logo\" alt=\"{}\">",
                escape(&view.sender)
            )
        } else {
            String::new()
        },
        escape(&view.sender),
        invites,
        escape(&envelope.subject)
    ));
    if let Some(expires_at) = envelope.expires_at {
        body.push_str(&format!(
            "<p class=\"meta\">{} {}</p>",
            words.expires,
            date(&expires_at)
        ));
    }
    body.push_str("</header>");
    if let Some(message) = &envelope.message {
        body.push_str(&format!(
            "<section class=\"card message\">{}</section>",
            escape(message)
        ));
    }
    if let Some(error) = error {
        body.push_str(&format!(
            "<section class=\"card error\" role=\"alert\"><strong>{}</strong><p>{}</p></section>",
            words.problem,
            escape(error)
        ));
    }
    let state_text = match &view.state {
        SigningState::NotSent => Some(words.not_sent.to_string()),
        SigningState::Waiting(names) => Some(format!(
            "{} {}: {}.",
            words.waiting,
            words.waiting_for,
            names
                .iter()
                .map(|n| escape(n))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        SigningState::YourTurn => None,
        SigningState::Signed => Some(words.signed.to_string()),
        SigningState::Approved => Some(words.approved.to_string()),
        SigningState::DeclinedByYou => Some(words.declined_by_you.to_string()),
        SigningState::Declined => Some(words.declined.to_string()),
        SigningState::Voided => Some(words.voided.to_string()),
        SigningState::Expired => Some(words.expired.to_string()),
        SigningState::Completed => Some(match recipient.status {
            RecipientStatus::Signed => format!("{} {}", words.signed, words.completed),
            RecipientStatus::Approved => format!("{} {}", words.approved, words.completed),
            _ => words.completed.to_string(),
        }),
        SigningState::CopyInProgress => Some(words.copy_in_progress.to_string()),
    };
    if let Some(text) = state_text {
        body.push_str(&format!(
            "<section class=\"card state\" role=\"status\" id=\"state\"><p>{text}</p>"
        ));
        let after_action = matches!(
            view.state,
            SigningState::Signed | SigningState::Approved | SigningState::Completed
        );
        if let (true, Some(url)) = (after_action, &envelope.redirect_url) {
            body.push_str(&format!(
                "<p><a class=\"button\" href=\"{}\">{}</a></p>",
                escape(url),
                words.continue_label
            ));
        }
        body.push_str("</section>");
    }
    if view.documents_visible() {
        body.push_str(&format!(
            "<section class=\"card documents\"><h2>{}</h2>{}",
            words.documents,
            guide(words, layouts, view)
        ));
        for (index, document) in envelope.documents.iter().enumerate() {
            body.push_str("<figure class=\"document\">");
            if let Some(layout) = layouts.get(index) {
                body.push_str(&document_pages(
                    view,
                    words,
                    &format!("{base}/documents/{index}"),
                    &document.name,
                    layout,
                ));
            }
            body.push_str(&format!(
                "<figcaption>{name} · {count} {pages} · <a href=\"{base}/documents/{index}?download=1\" download>{download}</a></figcaption></figure>",
                name = escape(&document.name),
                count = document.page_count,
                pages = if document.page_count == 1 { words.page } else { words.pages },
                download = words.download,
            ));
        }
        body.push_str("</section>");
    }
    if view.state == SigningState::YourTurn {
        if view.locked {
            body.push_str(&format!(
                "<section class=\"card error\" role=\"alert\" id=\"locked\"><h2>{}</h2><p>{}</p></section>",
                words.code_title,
                escape(&words.code_locked.replace("{sender}", &view.sender))
            ));
        } else if let Some(channel) = view.pending_factor {
            body.push_str(&code_step(view, words, &base, channel));
        } else {
            body.push_str(&action_forms(view, words, &base));
        }
    }
    page(words, &envelope.subject, &body)
}

/// The one-time code step: what is sent where, a button to send it, then the code's field,
/// a button to send a new one and what to do when it does not arrive.
fn code_step(
    view: &SigningView,
    words: &crate::i18n::Words,
    base: &str,
    channel: crate::esign::model::CodeChannel,
) -> String {
    use crate::esign::model::CodeChannel;
    let recipient = &view.recipient;
    let destination = match channel {
        CodeChannel::Email => crate::esign::mask_email(&recipient.email),
        CodeChannel::Sms => crate::esign::mask_phone(recipient.phone.as_deref().unwrap_or("")),
    };
    let fill = |text: &str| {
        escape(
            &text
                .replace("{destination}", &destination)
                .replace("{sender}", &view.sender)
                .replace(
                    "{minutes}",
                    &(crate::esign::CODE_LIFETIME_SECS / 60).to_string(),
                ),
        )
    };
    let intro = match channel {
        CodeChannel::Email => words.code_intro_email,
        CodeChannel::Sms => words.code_intro_sms,
    };
    let sent = recipient
        .pending_code
        .as_ref()
        .is_some_and(|pending| pending.channel == channel);
    let mut out = format!(
        "<section class=\"card code\" id=\"code\"><h2>{}</h2><p>{}</p>",
        words.code_title,
        fill(intro)
    );
    if sent {
        out.push_str(&format!(
            "<p role=\"status\">{}</p>\
             <form method=\"post\" action=\"{base}\"><input type=\"hidden\" name=\"action\" value=\"verify_code\">\
             <label for=\"one-time-code\">{}</label>\
             <input id=\"one-time-code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9 ]*\" maxlength=\"8\" required>\
             <button type=\"submit\" id=\"verify-code\">{}</button></form>\
             <form method=\"post\" action=\"{base}\"><input type=\"hidden\" name=\"action\" value=\"send_code\">\
             <button type=\"submit\" class=\"secondary\" id=\"resend-code\">{}</button></form>\
             <details><summary>{}</summary><p>{}</p></details>",
            fill(words.code_sent),
            words.code_label,
            words.code_verify,
            words.code_resend,
            words.code_resend,
            fill(words.code_help),
        ));
    } else {
        out.push_str(&format!(
            "<form method=\"post\" action=\"{base}\"><input type=\"hidden\" name=\"action\" value=\"send_code\">\
             <button type=\"submit\" id=\"send-code\">{}</button></form>",
            words.code_send
        ));
    }
    out.push_str("</section>");
    out
}

/// A document's pages as images sized to the screen (a phone's and a desktop's width at 2×),
/// with the fields drawn where they will be stamped: the signer's own, and other signers' as
/// placeholders. The boxes are positioned in percent of the page, so they follow the image at
/// any width.
fn document_pages(
    view: &SigningView,
    words: &Words,
    base: &str,
    name: &str,
    layout: &DocumentLayout,
) -> String {
    let email = view.recipient.email.to_lowercase();
    let count = layout.pages.len();
    let mut html = String::from("<div class=\"pages\">");
    for (page_index, (width, height)) in layout.pages.iter().enumerate() {
        let number = page_index + 1;
        let pixels_high = (height / width * f64::from(PHONE_WIDTH)).round();
        let alt = words
            .page_of
            .replace("{name}", name)
            .replace("{n}", &number.to_string())
            .replace("{count}", &count.to_string());
        html.push_str(&format!(
            "<div class=\"page\" id=\"page-{number}\" data-width=\"{width}\" data-height=\"{height}\">\
             <img src=\"{base}/pages/{number}?w={PHONE_WIDTH}\" srcset=\"{base}/pages/{number}?w={PHONE_WIDTH} {PHONE_WIDTH}w, {base}/pages/{number}?w={DESKTOP_WIDTH} {DESKTOP_WIDTH}w\" \
             sizes=\"(max-width: 860px) 100vw, 828px\" width=\"{PHONE_WIDTH}\" height=\"{pixels_high}\" alt=\"{alt}\"{lazy}>",
            alt = escape(&alt),
            lazy = if number > 2 { " loading=\"lazy\"" } else { "" },
        ));
        for field in layout.fields.iter().filter(|f| f.page as usize == number) {
            let own = field.recipient_email.to_lowercase() == email;
            let percent = |part: f64, whole: f64| part / whole * 100.0;
            let style = format!(
                "left:{:.4}%;top:{:.4}%;width:{:.4}%;height:{:.4}%",
                percent(field.rect.x, *width),
                percent(field.rect.y, *height),
                percent(field.rect.width, *width),
                percent(field.rect.height, *height),
            );
            let signer = view
                .envelope
                .recipients
                .iter()
                .find(|r| r.email.eq_ignore_ascii_case(&field.recipient_email));
            // Signed already: the value as it will be stamped.
            if let Some(signature) = signer.and_then(|r| r.signature.as_ref()) {
                let value = match field.field_type {
                    FieldType::Signature => signature.typed_name.clone(),
                    FieldType::Initials => initials_of(&signature.typed_name),
                    FieldType::DateSigned => signature.at.format("%Y-%m-%d").to_string(),
                    FieldType::Checkbox => {
                        let ticked = signature.field_values.get(&(field.number as u32))
                            == Some(&"true".to_string());
                        if ticked { "☑" } else { "☐" }.to_string()
                    }
                    _ => signature
                        .field_values
                        .get(&(field.number as u32))
                        .cloned()
                        .unwrap_or_default(),
                };
                html.push_str(&format!(
                    "<div class=\"field filled {kind}\" data-field=\"{n}\" style=\"{style}\"><span>{value}</span></div>",
                    kind = kind_of(field.field_type),
                    n = field.number,
                    value = escape(&value),
                ));
                continue;
            }
            let label = if !own {
                words.field_other
            } else {
                match field.field_type {
                    FieldType::Signature => words.field_signature,
                    FieldType::Initials => words.field_initials,
                    FieldType::DateSigned => words.field_date,
                    FieldType::Checkbox => words.checkbox_field,
                    _ => words.text_field,
                }
            };
            // The signer's own fields, while it is their turn, are links to the form control
            // that fills them (keyboard-reachable, named by their label); the guide walks them.
            let control = match field.field_type {
                FieldType::Signature | FieldType::Initials => Some("typed_name".to_string()),
                FieldType::Text | FieldType::Checkbox => Some(format!("field_{}", field.number)),
                _ => None,
            };
            match (own && view.state == SigningState::YourTurn, control) {
                (true, Some(control)) => html.push_str(&format!(
                    "<a class=\"field own\" href=\"#{control}\" data-field=\"{n}\" data-kind=\"{kind}\" data-control=\"{control}\" style=\"{style}\"><span>{label}</span></a>",
                    n = field.number,
                    kind = kind_of(field.field_type),
                )),
                (true, None) => html.push_str(&format!(
                    "<div class=\"field own\" data-field=\"{n}\" data-kind=\"{kind}\" style=\"{style}\"><span>{label}</span></div>",
                    n = field.number,
                    kind = kind_of(field.field_type),
                )),
                (false, _) => html.push_str(&format!(
                    "<div class=\"field {whose}\" data-field=\"{n}\" aria-hidden=\"true\" style=\"{style}\"><span>{label}</span></div>",
                    whose = if own { "own" } else { "other" },
                    n = field.number,
                )),
            }
        }
        html.push_str("</div>");
    }
    html.push_str("</div>");
    html
}

/// A field type as the page's scripts and styles name it.
fn kind_of(field_type: FieldType) -> &'static str {
    match field_type {
        FieldType::Signature => "signature",
        FieldType::Initials => "initials",
        FieldType::DateSigned => "date",
        FieldType::Checkbox => "checkbox",
        _ => "text",
    }
}

/// A name's initials, as stamping writes them (`Ana María Ruiz` → `AMR`).
fn initials_of(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|word| word.chars().next())
        .flat_map(char::to_uppercase)
        .collect()
}

/// The guide from field to field (shown by the script; without it the field links and the
/// form below do the same).
fn guide(words: &Words, layouts: &[DocumentLayout], view: &SigningView) -> String {
    let email = view.recipient.email.to_lowercase();
    let own = layouts
        .iter()
        .flat_map(|l| &l.fields)
        .filter(|f| f.recipient_email.to_lowercase() == email)
        .count();
    if own == 0 || view.state != SigningState::YourTurn {
        return String::new();
    }
    format!(
        "<nav id=\"guide\" class=\"guide\" aria-label=\"{title}\" hidden><span id=\"guide-progress\" role=\"status\" aria-live=\"polite\" data-template=\"{progress}\"></span>\
         <button type=\"button\" id=\"guide-next\">{next}</button></nav>",
        title = escape(words.guide_title),
        progress = escape(words.guide_progress),
        next = escape(words.guide_next),
    )
}

/// Inputs for the signer's TEXT and CHECKBOX fields, named `field_{index}`.
fn filled_fields(view: &SigningView, words: &Words) -> String {
    let email = view.recipient.email.to_lowercase();
    let mut html = String::new();
    for (index, field) in view.envelope.fields.iter().enumerate() {
        if field.recipient_email.to_lowercase() != email {
            continue;
        }
        let place = match &field.anchor_text {
            Some(anchor) => format!("“{}”", escape(anchor)),
            None => format!("{} {}", words.page, field.page_number),
        };
        match field.field_type {
            FieldType::Text => html.push_str(&format!(
                "<label for=\"field_{index}\">{} ({place})</label>\
                 <input type=\"text\" id=\"field_{index}\" name=\"field_{index}\" required maxlength=\"500\">",
                words.text_field
            )),
            FieldType::Checkbox => html.push_str(&format!(
                "<div class=\"consent\"><input type=\"checkbox\" id=\"field_{index}\" name=\"field_{index}\" value=\"true\">\
                 <label for=\"field_{index}\">{} ({place})</label></div>",
                words.checkbox_field
            )),
            _ => {}
        }
    }
    html
}

fn action_forms(view: &SigningView, words: &Words, base: &str) -> String {
    let recipient = &view.recipient;
    let mut html = String::new();
    html.push_str(&format!(
        "<section class=\"card\"><form method=\"post\" action=\"{base}\" id=\"sign-form\">"
    ));
    html.push_str(&format!(
        "<p>{} <strong>{}</strong> ({})</p>",
        words.signing_as,
        escape(&recipient.name),
        escape(&recipient.email)
    ));
    if recipient.role == RecipientRole::Approver {
        html.push_str("<input type=\"hidden\" name=\"action\" value=\"approve\">");
        html.push_str(&format!(
            "<div class=\"consent\"><input type=\"checkbox\" id=\"consent\" name=\"consent\" value=\"yes\" required>\
             <label for=\"consent\">{}</label></div><button type=\"submit\" id=\"approve\">{}</button>",
            words.approve_consent, words.approve
        ));
    } else {
        let consent = consent_text(words.lang);
        html.push_str("<input type=\"hidden\" name=\"action\" value=\"sign\">");
        html.push_str(&format!(
            "<label for=\"typed_name\">{}</label>\
             <input type=\"text\" id=\"typed_name\" name=\"typed_name\" required maxlength=\"200\" autocomplete=\"name\">",
            words.type_name
        ));
        html.push_str(&filled_fields(view, words));
        html.push_str(&format!(
            "<div id=\"draw\" hidden><label for=\"pad\">{}</label>\
             <canvas id=\"pad\" width=\"500\" height=\"150\" role=\"img\" aria-label=\"{}\"></canvas>\
             <p><button type=\"button\" class=\"secondary\" id=\"clear\">{}</button></p>\
             <input type=\"hidden\" name=\"signature\" id=\"signature\"></div>",
            words.or_draw, words.or_draw, words.clear
        ));
        html.push_str(&format!(
            "<div class=\"consent\"><input type=\"checkbox\" id=\"consent\" name=\"consent\" value=\"yes\" required>\
             <label for=\"consent\">{}</label></div><button type=\"submit\" id=\"sign\">{}</button>",
            escape(consent),
            words.sign
        ));
    }
    html.push_str("</form></section>");
    html.push_str(&format!(
        "<section class=\"card\"><details><summary>{}</summary><form method=\"post\" action=\"{base}\" id=\"decline-form\">\
         <input type=\"hidden\" name=\"action\" value=\"decline\"><label for=\"reason\">{}</label>\
         <textarea id=\"reason\" name=\"reason\" rows=\"3\" required maxlength=\"1000\"></textarea>\
         <p><button type=\"submit\" class=\"danger\" id=\"decline\">{}</button></p></form></details></section>",
        words.decline_summary, words.decline_reason, words.decline
    ));
    html.push_str("<script src=\"/sign/assets/signature.js\" defer></script>");
    html
}

/// The page for a link that opens nothing (404).
pub fn unknown_link_page(language: &str) -> String {
    let words = words(language);
    page(
        words,
        words.unknown_link,
        &format!(
            "<section class=\"card state\" role=\"status\"><h1>{}</h1><p>{}</p></section>",
            words.unknown_link, words.unknown_link_detail
        ),
    )
}

/// The drawing pad: strokes on a canvas, exported as a PNG data URL into the form on submit.
pub const SIGNATURE_JS: &str = r##""use strict";
(function () {
  var block = document.getElementById("draw");
  var pad = document.getElementById("pad");
  var field = document.getElementById("signature");
  var form = document.getElementById("sign-form");
  if (!block || !pad || !field || !form || !pad.getContext) { return; }
  block.hidden = false;
  var ctx = pad.getContext("2d");
  ctx.lineWidth = 2.5; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#1a237e";
  var drawing = false, drawn = false;
  function point(e) {
    var r = pad.getBoundingClientRect();
    return { x: (e.clientX - r.left) * pad.width / r.width, y: (e.clientY - r.top) * pad.height / r.height };
  }
  pad.addEventListener("pointerdown", function (e) {
    drawing = true; drawn = true; pad.setPointerCapture(e.pointerId);
    var p = point(e); ctx.beginPath(); ctx.moveTo(p.x, p.y);
  });
  pad.addEventListener("pointermove", function (e) {
    if (!drawing) { return; }
    var p = point(e); ctx.lineTo(p.x, p.y); ctx.stroke();
  });
  function stop() { drawing = false; }
  pad.addEventListener("pointerup", stop);
  pad.addEventListener("pointercancel", stop);
  document.getElementById("clear").addEventListener("click", function () {
    ctx.clearRect(0, 0, pad.width, pad.height); drawn = false; field.value = "";
  });
  form.addEventListener("submit", function () {
    field.value = drawn ? pad.toDataURL("image/png") : "";
  });
})();
(function () {
  var guide = document.getElementById("guide");
  if (!guide) { return; }
  var fields = [].slice.call(document.querySelectorAll(".field.own[data-kind]"));
  if (!fields.length) { return; }
  guide.hidden = false;
  var progress = document.getElementById("guide-progress");
  var template = progress.getAttribute("data-template");
  function control(f) {
    var id = f.getAttribute("data-control");
    return id ? document.getElementById(id) : null;
  }
  function done(f) {
    var kind = f.getAttribute("data-kind"), c = control(f);
    if (kind === "date" || kind === "checkbox") { return true; }
    return !!(c && c.value.trim());
  }
  function update() {
    var count = 0;
    fields.forEach(function (f) { var d = done(f); f.classList.toggle("done", d); if (d) { count++; } });
    progress.textContent = template.replace("{done}", count).replace("{total}", fields.length);
  }
  function show(f) {
    fields.forEach(function (other) { other.classList.remove("current"); });
    f.classList.add("current");
    f.scrollIntoView({ block: "center" });
    f.focus();
  }
  document.addEventListener("input", update);
  document.addEventListener("change", update);
  document.getElementById("guide-next").addEventListener("click", function () {
    show(fields.filter(function (f) { return !done(f); })[0] || fields[0]);
  });
  fields.forEach(function (f) {
    f.addEventListener("click", function (e) {
      var c = control(f);
      if (!c) { return; }
      e.preventDefault();
      c.focus();
      c.scrollIntoView({ block: "center" });
    });
  });
  update();
})();
"##;

/// What a page that cannot be drawn shows in its place (an A4-shaped image with a sentence).
pub fn page_placeholder_svg(lang: &str) -> String {
    let words = words(lang);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"1018\" viewBox=\"0 0 720 1018\" role=\"img\" aria-label=\"{text}\">\
         <rect width=\"720\" height=\"1018\" fill=\"#f7fafc\" stroke=\"#cbd5e0\" stroke-width=\"4\"/>\
         <text x=\"360\" y=\"509\" font-family=\"sans-serif\" font-size=\"22\" fill=\"#2d3748\" text-anchor=\"middle\">{text}</text></svg>",
        text = escape(words.page_unavailable)
    )
}
