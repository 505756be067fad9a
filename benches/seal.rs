//! Evidence speed: stamping (a typed signature, a date and a text field, typeset by Typst and
//! laid over the page as an incremental update) and sealing (PAdES B-B, ECDSA P-256) of a
//! 1-page and a 50-page contract, next to the same seal made by pyHanko in the same run (the
//! reference; in-process, imports excluded).
//!
//! Also what checking an upload costs: parsing only (before hostile-input hardening) next to
//! the full admission with its sealing trial (now).
//!
//! Run: `cargo bench --bench seal` (pyHanko: `pip install pyhanko`; skipped with a note if
//! missing). `BENCH_RUNS` sets the runs per size (default 20).

use signbridge::pdf::identity::SealIdentity;
use signbridge::pdf::layout::Rect;
use signbridge::pdf::seal::{seal_pdf, PadesLevel, SealRequest, TrustServices};
use signbridge::pdf::stamp::{stamp_pdf, StampContent, StampItem};
use std::process::Command;
use std::time::Instant;

fn contract(pages: usize) -> Vec<u8> {
    let mut markdown = String::from("# Employment contract\n\n");
    for page in 1..=pages {
        if page > 1 {
            markdown.push_str("{{pagebreak}}\n\n");
        }
        markdown.push_str(&format!("## Article {page}\n\nThe Employee shall perform the duties described in Annex {page} with care and diligence.\n\n"));
    }
    markdown.push_str("Signature of the employee:\n");
    signbridge::pdf::render::render_template("bench", &markdown, &serde_json::json!({}))
        .expect("render")
        .pdf
}

fn time_ms(runs: usize, mut work: impl FnMut()) -> (f64, f64) {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        work();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    (mean, min)
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let runs = if std::env::args().any(|a| a == "--bench") {
        runs
    } else {
        1
    };
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("seal bench: nproc={nproc} runs per size={runs}\n");
    println!(
        "{:<34} {:>6} {:>10} {:>10}",
        "step", "pages", "mean_ms", "min_ms"
    );
    signbridge::pdf::render::warm_up();
    let (identity, files) = SealIdentity::generate("Bench", chrono::Utc::now()).expect("identity");
    let dir = std::env::temp_dir().join(format!("signbridge-seal-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let request = SealRequest {
        identity: &identity,
        field_name: "Seal".into(),
        reason: "Benchmark".into(),
        location: None,
        contact: None,
        at: chrono::Utc::now(),
    };
    let items = vec![
        StampItem {
            page: 1,
            rect: Rect {
                x: 300.0,
                y: 600.0,
                width: 170.0,
                height: 46.0,
            },
            content: StampContent::Signature {
                png: None,
                typed_name: "Zoë Łukasiewicz".into(),
                caption: "signed by Zoë Łukasiewicz · 2026-11-28 10:00 UTC · env_bench".into(),
            },
        },
        StampItem {
            page: 1,
            rect: Rect {
                x: 300.0,
                y: 660.0,
                width: 100.0,
                height: 14.0,
            },
            content: StampContent::Text("2026-11-28".into()),
        },
        StampItem {
            page: 1,
            rect: Rect {
                x: 300.0,
                y: 680.0,
                width: 140.0,
                height: 14.0,
            },
            content: StampContent::Text("Αθήνα".into()),
        },
    ];
    let mut inputs = Vec::new();
    let mut seal_means = Vec::new();
    for pages in [1usize, 50] {
        let pdf = contract(pages);
        let (mean, min) = time_ms(runs, || {
            stamp_pdf(&pdf, &items, &[]).expect("stamp");
        });
        println!(
            "{:<34} {:>6} {:>10.2} {:>10.2}",
            "stamp (signbridge)", pages, mean, min
        );
        let stamped = stamp_pdf(&pdf, &items, &[]).expect("stamp");
        let (mean, min) = time_ms(runs, || {
            seal_pdf(&stamped, &request, PadesLevel::BB, TrustServices::default()).expect("seal");
        });
        println!(
            "{:<34} {:>6} {:>10.2} {:>10.2}",
            "seal B-B (signbridge)", pages, mean, min
        );
        seal_means.push(mean);
        let sealed =
            seal_pdf(&stamped, &request, PadesLevel::BB, TrustServices::default()).expect("seal");
        let options = signbridge::pdf::seal::VerifyOptions {
            anchors: Vec::new(),
            now: chrono::Utc::now(),
        };
        let (mean, min) = time_ms(runs, || {
            assert!(signbridge::pdf::seal::verify_pdf(&sealed, &options).valid);
        });
        println!(
            "{:<34} {:>6} {:>10.2} {:>10.2}",
            "verify (signbridge)", pages, mean, min
        );
        // What an upload costs to check: before (parse and count pages) and now (the limits,
        // active content, every page's text and the sealing trial).
        let (mean, min) = time_ms(runs, || {
            signbridge::pdf::inspect_pdf(&pdf).expect("inspect");
        });
        println!(
            "{:<34} {:>6} {:>10.2} {:>10.2}",
            "upload check: inspect only", pages, mean, min
        );
        let (mean, min) = time_ms(runs, || {
            signbridge::pdf::admit_pdf(&pdf).expect("admit");
        });
        println!(
            "{:<34} {:>6} {:>10.2} {:>10.2}",
            "upload check: admit (with trial)", pages, mean, min
        );
        let path = dir.join(format!("stamped-{pages}.pdf"));
        std::fs::write(&path, &stamped).expect("write");
        inputs.push((pages, path));
    }
    let key = dir.join("key.pem");
    let chain = dir.join("chain.pem");
    std::fs::write(&key, &files.key_pem).expect("write key");
    let leaf_end = files.certificate_pem[1..]
        .find("-----BEGIN")
        .map_or(files.certificate_pem.len(), |at| at + 1);
    let leaf = dir.join("leaf.pem");
    std::fs::write(&leaf, &files.certificate_pem[..leaf_end]).expect("write leaf");
    std::fs::write(&chain, &files.ca_certificate_pem).expect("write chain");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/seal_pyhanko.py");
    let mut command = Command::new("python3");
    command
        .arg(script)
        .arg(&key)
        .arg(&leaf)
        .arg(&chain)
        .arg(runs.to_string());
    for (_, path) in &inputs {
        command.arg(path);
    }
    match command.output() {
        Ok(output) if output.status.success() => {
            let text = String::from_utf8_lossy(&output.stdout);
            let mut ratios = Vec::new();
            for ((line, (pages, _)), ours) in text.lines().zip(&inputs).zip(&seal_means) {
                let parts: Vec<&str> = line.split_whitespace().collect();
                if let [_, mean, min] = parts[..] {
                    println!(
                        "{:<34} {:>6} {:>10} {:>10}",
                        "seal B-B (pyHanko, reference)", pages, mean, min
                    );
                    if let Ok(theirs) = mean.parse::<f64>() {
                        ratios.push(format!("{pages} page(s) {:.1}×", theirs / ours));
                    }
                }
            }
            println!(
                "\nseal speed-up over pyHanko (mean/mean, same run): {}",
                ratios.join(", ")
            );
        }
        Ok(output) => println!(
            "\npyHanko reference skipped: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("failed")
        ),
        Err(err) => println!("\npyHanko reference skipped: {err}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
