//! Pages as images for the signing page: a 50-page contract (rendered by our own pipeline,
//! text on every page) drawn by `pdf::raster` — the time per A4 page at 150 dpi (1,240 px wide)
//! and at the two widths the signing page asks for (720 and 1,600 px), and the time to the
//! first page image of the 50-page document from its bytes (what a signer's first view waits
//! for when nothing is cached yet).
//!
//! Run: `cargo bench --bench pages`. Without `--bench` it draws a few pages once.

use serde_json::json;
use signbridge::pdf::raster::{
    draw_page, encode_png, page_sizes, render_page_png, DESKTOP_WIDTH, PHONE_WIDTH,
};
use std::time::{Duration, Instant};

const PARAGRAPH: &str = "The Provider shall perform the Services with the care and skill of a diligent professional, \
in accordance with the specifications agreed in writing, and shall keep the Client informed of any matter that may \
affect the timely delivery of the Services, including staffing changes, subcontracting and material risks.";

fn contract(pages: usize) -> Vec<u8> {
    let mut markdown = String::from("# Services agreement\n\n");
    for index in 1..=pages {
        markdown.push_str(&format!("## {index}. Clause {index}\n\n"));
        for p in 0..4 {
            markdown.push_str(&format!("{index}.{p} {PARAGRAPH}\n\n"));
        }
        markdown.push_str("```{=typst}\n#pagebreak()\n```\n\n");
    }
    signbridge::pdf::render::render_template("bench.md.hbs", &markdown, &json!({}))
        .expect("the contract renders")
        .pdf
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let pdf = contract(115);
    let sizes = page_sizes(&pdf).expect("pages");
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "page images bench: nproc={nproc}, a {}-page contract ({} KiB), A4 = {:.0}×{:.0} pt\n",
        sizes.len(),
        pdf.len() / 1024,
        sizes[0].0,
        sizes[0].1
    );
    let at_150_dpi = (sizes[0].0 / 72.0 * 150.0).round() as u16;
    let sample: Vec<usize> = if full {
        (0..sizes.len()).step_by(5).collect()
    } else {
        vec![0, 1]
    };
    for (label, width) in [
        ("150 dpi", at_150_dpi),
        ("phone (720 px)", PHONE_WIDTH),
        ("desktop (1600 px)", DESKTOP_WIDTH),
    ] {
        let mut times = Vec::new();
        let mut drawing = Vec::new();
        let mut bytes = 0;
        for &page in &sample {
            let started = Instant::now();
            let (height, rgba) = draw_page(&pdf, page, width).expect("drawn");
            let drawn = started.elapsed();
            let png = encode_png(width, height, &rgba).expect("encoded");
            times.push(started.elapsed());
            drawing.push(drawn);
            bytes += png.len();
        }
        println!(
            "{label:<18} {width:>5} px wide: median {:>6.1} ms a page (drawing {:>5.1} ms + PNG), max {:>6.1} ms, {:>4} KiB a page on average",
            median(times.clone()).as_secs_f64() * 1000.0,
            median(drawing).as_secs_f64() * 1000.0,
            times.iter().max().unwrap().as_secs_f64() * 1000.0,
            bytes / sample.len() / 1024
        );
    }
    let mut firsts = Vec::new();
    for _ in 0..if full { 5 } else { 1 } {
        let started = Instant::now();
        render_page_png(&pdf, 0, PHONE_WIDTH).expect("drawn");
        firsts.push(started.elapsed());
    }
    println!(
        "\nfirst page image of the 50-page document, from its bytes: median {:.1} ms",
        median(firsts).as_secs_f64() * 1000.0
    );
}
