//! Contract rendering speed: a 3-page and a 20-page contract rendered warm (fonts and library
//! loaded; a different record each run, so memoisation cannot replay a whole render) through
//! the whole pipeline (handlebars → Markdown → Typst → PDF), next to the same
//! text set by reportlab (PyPI) in the same run as a reference.
//!
//! Run: `cargo bench --bench render` (reportlab: `pip install reportlab`; skipped with a note if
//! missing). `BENCH_RUNS` sets the renders per size (default 10).

use serde_json::json;
use std::process::Command;
use std::time::Instant;

const PARAGRAPH: &str = "The Provider shall perform the Services with the care and skill of a diligent professional, \
in accordance with the specifications agreed in writing, and shall keep the Client informed of any matter that may \
affect the timely delivery of the Services, including staffing changes, subcontracting and material risks.";

/// A contract of `sections` sections of four paragraphs each (≈ 2.2 sections a page).
fn contract(sections: usize) -> (String, serde_json::Value) {
    let mut markdown = String::from("---\nlang: en\ntitle: Services agreement\n---\n# Services agreement\n\nBetween **{{provider}}** and **{{client}}**.\n\n");
    let mut json_sections = Vec::new();
    for index in 1..=sections {
        markdown.push_str(&format!("## {index}. Clause {index}\n\n"));
        let paragraphs: Vec<String> = (0..4).map(|p| format!("{index}.{p} {PARAGRAPH}")).collect();
        for paragraph in &paragraphs {
            markdown.push_str(paragraph);
            markdown.push_str("\n\n");
        }
        json_sections
            .push(json!({"heading": format!("{index}. Clause {index}"), "paragraphs": paragraphs}));
    }
    markdown.push_str("{{signature \"client\" \"For the Client\"}}\n\n{{signature \"provider\" \"For the Provider\"}}\n");
    (
        markdown,
        json!({"title": "Services agreement", "sections": json_sections}),
    )
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let runs = if std::env::args().any(|a| a == "--bench") {
        runs
    } else {
        1
    };
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "render bench: nproc={nproc} runs per size={runs} (warm: fonts loaded before timing)\n"
    );
    println!(
        "{:<28} {:>6} {:>12} {:>12}",
        "renderer / contract", "pages", "mean_ms", "min_ms"
    );
    let data = json!({"provider": "Acme Robotics SAS", "client": "Globex Logistics GmbH"});
    signbridge::pdf::render::warm_up();
    let dir = std::env::temp_dir().join(format!("signbridge-render-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok();
    for (label, sections) in [("3-page", 6usize), ("20-page", 49usize)] {
        let (markdown, plain) = contract(sections);
        let mut times = Vec::new();
        let mut pages = 0;
        for _ in 0..runs {
            let start = Instant::now();
            let rendered =
                signbridge::pdf::render::render_template("bench.md.hbs", &markdown, &data)
                    .expect("renders");
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            pages = rendered.page_count;
        }
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        let min = times.iter().cloned().fold(f64::INFINITY, f64::min);
        println!(
            "{:<28} {:>6} {:>12.2} {:>12.2}",
            format!("signbridge (typst) {label}"),
            pages,
            mean,
            min
        );

        let json_path = dir.join(format!("{label}.json"));
        std::fs::write(&json_path, plain.to_string()).expect("temp file");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/render_reportlab.py");
        match Command::new("python3")
            .arg(script)
            .arg(&json_path)
            .arg(runs.to_string())
            .output()
        {
            Ok(output) if output.status.success() => {
                let text = String::from_utf8_lossy(&output.stdout);
                let field = |name: &str| {
                    text.split_whitespace()
                        .find_map(|w| w.strip_prefix(name))
                        .unwrap_or("?")
                        .to_string()
                };
                println!(
                    "{:<28} {:>6} {:>12} {:>12}",
                    format!("reportlab {label}"),
                    field("pages="),
                    field("ms="),
                    "-"
                );
            }
            _ => println!(
                "{:<28} (reportlab not installed: pip install reportlab)",
                format!("reportlab {label}")
            ),
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
