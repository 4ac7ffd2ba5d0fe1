//! `fraud train --report` and `fraud evaluate --report`: the page and its charts, rendered by a
//! real browser (Debian's Chromium, headless, which scripts/deps.sh installs for the tests) and
//! checked pixel by pixel: every chart must draw, not merely be written.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Each chart and the colour its data is drawn in (not its axes or text): the curve, the bars,
/// the cells.
const CHARTS: [(&str, [u8; 3]); 5] = [
    ("precision_recall.svg", [0xc0, 0x39, 0x2b]),
    ("roc.svg", [0x2e, 0x86, 0xc1]),
    ("scores.svg", [0x2e, 0x86, 0xc1]),
    ("confusion.svg", [0xd5, 0xf5, 0xe3]),
    ("importance.svg", [0xc0, 0x39, 0x2b]),
];

fn chromium() -> PathBuf {
    let path =
        std::env::var_os("FRAUD_TEST_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: scripts/deps.sh test installs Chromium for the report tests",
        path.display()
    );
    path
}

/// A headless screenshot of `file` (width × height), decoded: RGB pixels.
fn screenshot(file: &Path, width: u32, height: u32) -> (Vec<u8>, u32, u32) {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("shot.png");
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("running chromium");
    assert!(
        png.exists(),
        "chromium wrote no screenshot of {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    if let Ok(keep) = std::env::var("FRAUD_TEST_KEEP_SCREENSHOTS") {
        let name = format!("{}.png", file.file_name().unwrap().to_string_lossy());
        std::fs::copy(&png, Path::new(&keep).join(name)).unwrap();
    }
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf,
        png::ColorType::Rgba => buf.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        other => panic!("a {other:?} screenshot"),
    };
    (rgb, info.width, info.height)
}

/// Pixels within a small distance of `colour`.
fn in_colour(pixels: &[u8], colour: [u8; 3]) -> usize {
    pixels.chunks_exact(3).filter(|p| p.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 24)).count()
}

/// The share of pixels that are not white, and how many distinct colours they take.
fn ink(pixels: &[u8]) -> (f64, usize) {
    let mut colours = std::collections::HashSet::new();
    let mut inked = 0;
    for p in pixels.chunks_exact(3) {
        if p[0] < 240 || p[1] < 240 || p[2] < 240 {
            inked += 1;
            colours.insert((p[0] / 32, p[1] / 32, p[2] / 32));
        }
    }
    (inked as f64 / (pixels.len() / 3) as f64, colours.len())
}

fn assert_report_draws(dir: &Path) {
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), CHARTS.len(), "one inline chart each");
    assert!(html.contains("AUPRC"), "the page states the metrics");
    assert!(
        !html.contains("<script") && !html.contains("http://") && !html.contains("https://"),
        "self-contained, no script"
    );
    for (chart, colour) in CHARTS {
        let (pixels, w, h) = screenshot(&dir.join(chart), 540, 380);
        let (share, colours) = ink(&pixels);
        let data = in_colour(&pixels, colour);
        eprintln!(
            "{chart}: {w}x{h}, {:.1} % inked, {colours} colours, {data} pixels of its data colour",
            share * 100.0
        );
        assert!(share > 0.02, "{chart} draws almost nothing ({:.2} % of pixels)", share * 100.0);
        // A 2-pixel curve across the plot is over 800 pixels; axes and text have none of it.
        assert!(data > 500, "{chart} does not draw its data ({data} pixels of its colour)");
    }
    let (pixels, _, _) = screenshot(&dir.join("report.html"), 1200, 1400);
    let (share, colours) = ink(&pixels);
    eprintln!("report.html: {:.1} % inked, {colours} colours", share * 100.0);
    assert!(share > 0.05 && colours >= 5, "the page does not render its charts");
}

#[test]
fn train_and_evaluate_write_a_report_that_renders() {
    let dir = tempfile::tempdir().unwrap();
    let csv = sample_csv();
    for family in ["logistic", "gbdt"] {
        let (model, report) = (dir.path().join(format!("m-{family}")), dir.path().join(format!("train-{family}")));
        let out = run(&[
            "train",
            "--model",
            family,
            "--csv",
            csv.to_str().unwrap(),
            "--model-dir",
            model.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_report_draws(&report);
        let html = std::fs::read_to_string(report.join("report.html")).unwrap();
        assert!(html.contains(family), "the page names the model's family");
        let evaluated = dir.path().join(format!("eval-{family}"));
        let out = run(&[
            "evaluate",
            "--csv",
            csv.to_str().unwrap(),
            "--model-dir",
            model.to_str().unwrap(),
            "--report",
            evaluated.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_report_draws(&evaluated);
    }
}
