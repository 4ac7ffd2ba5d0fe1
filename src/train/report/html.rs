//! `--report DIR` of `fraud train` and `fraud evaluate`: one self-contained `report.html`
//! (inline SVG, no JavaScript, nothing fetched) with the charts an analyst reads a fraud model
//! by, and each chart also as its own `.svg` file beside it:
//! - the precision–recall curve, with the review and decline points marked;
//! - the ROC curve, with the same points;
//! - the fraud probability of each class (log-scale counts), with the bands shaded;
//! - the confusion matrix at each band;
//! - the model's global feature importance: mean |contribution| to the log-odds.
//!
//! Why by hand: five charts of lines, bars and text need a few dozen lines of SVG; a plotting
//! crate would bring fonts and a rasteriser for none of that.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::decision::{Explainer, Policy};
use crate::metrics::{Confusion, Evaluation, curve_points};
use crate::model::FraudModel;
use crate::schema::{FEATURE_NAMES, FeatureRow, N_FEATURES};

/// The report's file; the charts are written beside it.
pub const REPORT_FILE: &str = "report.html";
/// The charts, by file name, in the order the page shows them.
pub const CHARTS: [&str; 5] = ["precision_recall.svg", "roc.svg", "scores.svg", "confusion.svg", "importance.svg"];
/// Rows whose contributions make the importance chart: every fraud and up to this many others.
const IMPORTANCE_ROWS: usize = 2000;

const W: f64 = 540.0;
const H: f64 = 380.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

const FRAUD: &str = "#c0392b";
const LEGIT: &str = "#2e86c1";
const REVIEW: &str = "#f39c12";
const DECLINE: &str = "#8e44ad";

/// What the report is about.
pub struct ReportInput<'a> {
    pub title: String,
    pub model: &'a FraudModel,
    pub policy: Policy,
    pub probabilities: &'a [f64],
    pub labels: &'a [bool],
    pub rows: &'a ndarray::Array2<f64>,
    pub evaluation: &'a Evaluation,
}

/// Writes `dir/report.html` and the charts; returns the report's path.
pub fn write(dir: &Path, input: &ReportInput<'_>) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let charts = [precision_recall(input), roc(input), scores(input), confusion(input), importance(input)];
    for (name, svg) in CHARTS.iter().zip(&charts) {
        std::fs::write(dir.join(name), svg)?;
    }
    let e = input.evaluation;
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n\
         <style>body{{font-family:sans-serif;margin:24px;color:#222}} .charts{{display:flex;flex-wrap:wrap;gap:16px}}\
         figure{{margin:0;border:1px solid #ddd;padding:8px}} figcaption{{font-size:13px;color:#555;max-width:{W}px}}\
         td,th{{padding:2px 10px;text-align:right}}</style></head><body>\n\
         <h1>{title}</h1>\n<p>Model {version} ({family}); {rows} rows, {frauds} frauds. AUPRC {auprc:.4}, ROC-AUC {auc:.4}. \
         Review from probability {review:.6}; {decline}.</p>\n<div class=\"charts\">\n",
        title = escape(&input.title),
        version = input.model.version(),
        family = input.model.family().as_str(),
        rows = e.rows,
        frauds = e.frauds,
        auprc = e.auprc,
        auc = e.roc_auc,
        review = input.policy.review,
        decline = match input.policy.decline {
            Some(d) if d <= input.policy.review => format!(
                "decline from {d:.6}, the same (the review band is empty: the precision target was reached below the review threshold)"
            ),
            Some(d) => format!("decline from {d:.6}"),
            None if input.model.bands().decline_rule.is_some() =>
                "no decline band (no threshold reached the precision target on the training data)".into(),
            None => "no decline band".into(),
        },
    );
    let captions = [
        "Precision against recall over every threshold; the dots are the review and decline bands.",
        "True-positive rate against false-positive rate; the dots are the bands.",
        "How many rows of each class get each fraud probability (counts on a log scale); the bands are shaded.",
        "What each band catches: rows at or above its threshold, against the labels.",
        "Mean absolute contribution of each feature to the log-odds, over every fraud and a sample of the other rows.",
    ];
    for (svg, caption) in charts.iter().zip(captions) {
        // Inline SVG needs no namespace; the page then names no address at all.
        let inline = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
        let _ = writeln!(html, "<figure>{inline}<figcaption>{caption}</figcaption></figure>");
    }
    html.push_str("</div>\n</body></html>\n");
    let path = dir.join(REPORT_FILE);
    std::fs::write(&path, html)?;
    Ok(path)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Where a chart's key goes: the corner its curve leaves empty.
#[derive(Clone, Copy)]
enum Corner {
    BottomLeft,
    BottomRight,
}

/// An SVG chart: the plot area, axes and scales.
struct Chart {
    svg: String,
    x: (f64, f64),
    y: (f64, f64),
    log_y: bool,
}

impl Chart {
    fn new(title: &str, x: (f64, f64), y: (f64, f64), log_y: bool) -> Chart {
        let mut svg = String::new();
        let _ = write!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\
             <rect width=\"{W}\" height=\"{H}\" fill=\"white\"/><text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>",
            W / 2.0,
            escape(title)
        );
        Chart { svg, x, y, log_y }
    }

    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0) * (W - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        let (lo, hi, v) = if self.log_y {
            (self.y.0.log10(), self.y.1.log10(), y.max(self.y.0).log10())
        } else {
            (self.y.0, self.y.1, y)
        };
        H - BOTTOM - (v - lo) / (hi - lo) * (H - TOP - BOTTOM)
    }

    fn axes(&mut self, x_label: &str, y_label: &str, x_ticks: &[f64], y_ticks: &[f64]) {
        let (x0, x1, y0, y1) = (LEFT, W - RIGHT, H - BOTTOM, TOP);
        let _ = write!(self.svg, "<path d=\"M{x0} {y1}V{y0}H{x1}\" stroke=\"#333\" fill=\"none\"/>");
        for &t in x_ticks {
            let x = self.px(t);
            let _ = write!(
                self.svg,
                "<line x1=\"{x}\" y1=\"{y0}\" x2=\"{x}\" y2=\"{}\" stroke=\"#333\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                y0 + 5.0,
                y0 + 18.0,
                tick(t)
            );
        }
        for &t in y_ticks {
            let y = self.py(t);
            let _ = write!(
                self.svg,
                "<line x1=\"{}\" y1=\"{y}\" x2=\"{x0}\" y2=\"{y}\" stroke=\"#333\"/><line x1=\"{x0}\" y1=\"{y}\" x2=\"{x1}\" y2=\"{y}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                x0 - 5.0,
                x0 - 8.0,
                y + 4.0,
                tick(t)
            );
        }
        let _ = write!(
            self.svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text><text transform=\"translate(16 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            (x0 + x1) / 2.0,
            H - 12.0,
            escape(x_label),
            (y0 + y1) / 2.0,
            escape(y_label)
        );
    }

    fn line(&mut self, points: &[(f64, f64)], color: &str) {
        let mut d = String::new();
        for (k, (x, y)) in points.iter().enumerate() {
            let _ = write!(d, "{}{:.1} {:.1}", if k == 0 { "M" } else { "L" }, self.px(*x), self.py(*y));
        }
        let _ = write!(self.svg, "<path d=\"{d}\" stroke=\"{color}\" stroke-width=\"2\" fill=\"none\"/>");
    }

    /// A marked point on a curve; what it is goes in a [`Chart::key`].
    fn dot(&mut self, (x, y): (f64, f64), color: &str, nth: usize) {
        let (cx, cy) = (self.px(x), self.py(y));
        // A later dot is smaller, so two at one place both show.
        let _ = write!(
            self.svg,
            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"{}\" fill=\"{color}\"/>",
            7.0 - 2.0 * nth as f64
        );
    }

    /// Labels for the marked points, one line each, in a corner of the plot area the curve
    /// leaves empty: however close the points lie, the labels never overlap.
    fn key(&mut self, entries: &[(&str, String)], corner: Corner) {
        let n = entries.len() as f64;
        for (k, (color, text)) in entries.iter().enumerate() {
            let y = H - BOTTOM - 10.0 - 18.0 * (n - 1.0 - k as f64);
            let (x, anchor, dx) = match corner {
                Corner::BottomLeft => (LEFT + 12.0, "start", 10.0),
                Corner::BottomRight => (W - RIGHT - 12.0, "end", -10.0),
            };
            let _ = write!(
                self.svg,
                "<circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{y:.1}\" fill=\"{color}\" text-anchor=\"{anchor}\">{}</text>",
                y - 4.0,
                x + dx,
                escape(text)
            );
        }
    }

    fn legend(&mut self, entries: &[(&str, &str)]) {
        for (k, (label, color)) in entries.iter().enumerate() {
            let y = TOP + 8.0 + 16.0 * k as f64;
            let _ = write!(
                self.svg,
                "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{}</text>",
                W - RIGHT - 150.0,
                y - 10.0,
                W - RIGHT - 132.0,
                y,
                escape(label)
            );
        }
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

fn tick(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 10_000.0 || v.abs() < 0.01) {
        format!("{v:.0e}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Points of the curve, at most about 600, keeping both ends.
fn thin<T: Copy>(points: &[T]) -> Vec<T> {
    let step = points.len().div_ceil(600).max(1);
    let mut out: Vec<T> = points.iter().step_by(step).copied().collect();
    if let Some(last) = points.last() {
        out.push(*last);
    }
    out
}

/// (precision, recall, fpr, tpr) at a threshold.
fn at(input: &ReportInput<'_>, threshold: f64) -> (f64, f64, f64, f64) {
    let c = Confusion::at(input.probabilities, input.labels, threshold);
    let fpr = c.fp as f64 / (c.fp + c.tn).max(1) as f64;
    (c.precision(), c.recall(), fpr, c.recall())
}

fn band_points(input: &ReportInput<'_>) -> Vec<(f64, &'static str, &'static str)> {
    let mut v = vec![(input.policy.review, REVIEW, "review")];
    if let Some(d) = input.policy.decline {
        v.push((d, DECLINE, "decline"));
    }
    v
}

fn precision_recall(input: &ReportInput<'_>) -> String {
    let (points, positives, _) = curve_points(input.probabilities, input.labels);
    let pr: Vec<(f64, f64)> = points
        .iter()
        .map(|&(_, fp, tp)| (tp as f64 / positives.max(1) as f64, tp as f64 / (tp + fp).max(1) as f64))
        .collect();
    let mut c = Chart::new("Precision–recall", (0.0, 1.0), (0.0, 1.0), false);
    let ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
    c.axes("recall", "precision", &ticks, &ticks);
    c.line(&thin(&pr), FRAUD);
    let mut key = Vec::new();
    for (k, (t, color, name)) in band_points(input).into_iter().enumerate() {
        let (p, r, _, _) = at(input, t);
        c.dot((r, p), color, k);
        key.push((color, format!("{name}: precision {p:.3}, recall {r:.3}")));
    }
    // The curve runs from high precision at low recall down to the right.
    c.key(&key, Corner::BottomLeft);
    c.finish()
}

fn roc(input: &ReportInput<'_>) -> String {
    let (points, positives, negatives) = curve_points(input.probabilities, input.labels);
    let mut roc: Vec<(f64, f64)> = vec![(0.0, 0.0)];
    roc.extend(
        points.iter().map(|&(_, fp, tp)| (fp as f64 / negatives.max(1) as f64, tp as f64 / positives.max(1) as f64)),
    );
    let mut c = Chart::new("ROC curve", (0.0, 1.0), (0.0, 1.0), false);
    let ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
    c.axes("false-positive rate", "true-positive rate", &ticks, &ticks);
    c.line(&[(0.0, 0.0), (1.0, 1.0)], "#bbb");
    c.line(&thin(&roc), LEGIT);
    let mut key = Vec::new();
    for (k, (t, color, name)) in band_points(input).into_iter().enumerate() {
        let (_, _, fpr, tpr) = at(input, t);
        c.dot((fpr, tpr), color, k);
        key.push((color, format!("{name}: FPR {fpr:.4}, TPR {tpr:.3}")));
    }
    // The curve climbs the left edge and runs along the top.
    c.key(&key, Corner::BottomRight);
    c.finish()
}

fn scores(input: &ReportInput<'_>) -> String {
    const BINS: usize = 50;
    let mut counts = [[0u64; BINS]; 2];
    for (&p, &fraud) in input.probabilities.iter().zip(input.labels) {
        let b = ((p * BINS as f64) as usize).min(BINS - 1);
        counts[usize::from(fraud)][b] += 1;
    }
    let max = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let top = 10f64.powf(max.log10().ceil().max(1.0));
    let mut c = Chart::new("Fraud probability by class", (0.0, 1.0), (0.8, top), true);
    // The bands first, under the bars.
    let (y0, y1) = (H - BOTTOM, TOP);
    let review_end = input.policy.decline.unwrap_or(1.0);
    for (from, to, color) in [(input.policy.review, review_end, REVIEW), (review_end, 1.0, DECLINE)] {
        if to > from || (input.policy.decline.is_some() && color == DECLINE) {
            let (a, b) = (c.px(from), c.px(to));
            let _ = write!(
                c.svg,
                "<rect x=\"{a:.1}\" y=\"{y1}\" width=\"{:.1}\" height=\"{}\" fill=\"{color}\" opacity=\"0.15\"/>",
                (b - a).max(1.0),
                y0 - y1
            );
        }
    }
    let decades: Vec<f64> = (0..=top.log10() as i32).map(|k| 10f64.powi(k)).collect();
    c.axes("fraud probability", "rows (log scale)", &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0], &decades);
    for (class, color) in [(0usize, LEGIT), (1, FRAUD)] {
        for (b, &n) in counts[class].iter().enumerate() {
            if n == 0 {
                continue;
            }
            let (x0, x1) = (c.px(b as f64 / BINS as f64), c.px((b + 1) as f64 / BINS as f64));
            let w = (x1 - x0) / 2.0;
            let x = x0 + w * class as f64;
            let y = c.py(n as f64);
            let _ = write!(
                c.svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{color}\"/>",
                (H - BOTTOM - y).max(0.5)
            );
        }
    }
    c.legend(&[("legitimate", LEGIT), ("fraud", FRAUD), ("review band", REVIEW), ("decline band", DECLINE)]);
    c.finish()
}

fn confusion(input: &ReportInput<'_>) -> String {
    let mut c = Chart::new("Confusion matrix at each band", (0.0, 1.0), (0.0, 1.0), false);
    let bands = band_points(input);
    let cell = 70.0;
    for (k, (t, color, name)) in bands.iter().enumerate() {
        let m = Confusion::at(input.probabilities, input.labels, *t);
        let x0 = 70.0 + k as f64 * 250.0;
        let y0 = 90.0;
        let _ = write!(
            c.svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{color}\" font-size=\"14\">{name} at {t:.4}</text>",
            x0 + cell,
            y0 - 30.0
        );
        let _ = write!(
            c.svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">flagged</text><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">not</text>",
            x0 + cell / 2.0,
            y0 - 8.0,
            x0 + 1.5 * cell,
            y0 - 8.0
        );
        for (r, (label, cells)) in [("fraud", [m.tp, m.fn_]), ("legit", [m.fp, m.tn])].iter().enumerate() {
            let y = y0 + r as f64 * cell;
            let _ = write!(
                c.svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{label}</text>",
                x0 - 6.0,
                y + cell / 2.0 + 4.0
            );
            for (col, n) in cells.iter().enumerate() {
                let x = x0 + col as f64 * cell;
                let good = (r == 0 && col == 0) || (r == 1 && col == 1);
                let fill = if good { "#d5f5e3" } else { "#fadbd8" };
                let _ = write!(
                    c.svg,
                    "<rect x=\"{x}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\" stroke=\"#888\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"15\">{n}</text>",
                    x + cell / 2.0,
                    y + cell / 2.0 + 5.0
                );
            }
        }
        let _ = write!(
            c.svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">precision {:.3}, recall {:.3}</text>",
            x0 + cell,
            y0 + 2.0 * cell + 24.0,
            m.precision(),
            m.recall()
        );
    }
    if input.policy.decline.is_none() {
        let _ = write!(
            c.svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{DECLINE}\">no decline band</text>",
            70.0 + 250.0 + cell,
            160.0
        );
    }
    c.finish()
}

fn importance(input: &ReportInput<'_>) -> String {
    // Every fraud and an evenly spaced sample of the rest.
    let others: Vec<usize> = (0..input.labels.len()).filter(|&i| !input.labels[i]).collect();
    let step = others.len().div_ceil(IMPORTANCE_ROWS).max(1);
    let chosen: Vec<usize> =
        (0..input.labels.len()).filter(|&i| input.labels[i]).chain(others.into_iter().step_by(step)).collect();
    let mut explainer = Explainer::default();
    let mut mean = [0.0; N_FEATURES];
    for &i in &chosen {
        let row: FeatureRow = std::array::from_fn(|j| input.rows[[i, j]]);
        let (_, phi) = explainer.all(input.model, &row);
        for (m, p) in mean.iter_mut().zip(phi) {
            *m += p.abs() / chosen.len() as f64;
        }
    }
    let mut order: Vec<usize> = (0..N_FEATURES).collect();
    order.sort_by(|&a, &b| mean[b].total_cmp(&mean[a]));
    let shown = &order[..15];
    let max = mean[shown[0]].max(1e-12);
    let mut c = Chart::new("Feature importance: mean |contribution|", (0.0, max * 1.1), (0.0, 1.0), false);
    let bar = (H - TOP - BOTTOM) / shown.len() as f64;
    for (k, &j) in shown.iter().enumerate() {
        let y = TOP + k as f64 * bar;
        let w = c.px(mean[j]) - LEFT;
        let _ = write!(
            c.svg,
            "<rect x=\"{LEFT}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{FRAUD}\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><text x=\"{:.1}\" y=\"{:.1}\">{:.3}</text>",
            y + 2.0,
            bar - 4.0,
            LEFT - 6.0,
            y + bar / 2.0 + 4.0,
            FEATURE_NAMES[j],
            LEFT + w + 4.0,
            y + bar / 2.0 + 4.0,
            mean[j]
        );
    }
    let _ = write!(
        c.svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">mean |contribution to the log-odds| over {} rows (top 15 features)</text>",
        W / 2.0,
        H - 12.0,
        chosen.len()
    );
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The y of every label drawn in `color`.
    fn label_ys(svg: &str, color: &str) -> Vec<f64> {
        svg.split("<text ")
            .skip(1)
            .filter_map(|t| t.split('>').next())
            .filter(|t| t.contains(&format!("fill=\"{color}\"")))
            .filter_map(|t| t.split("y=\"").nth(1)?.split('"').next()?.parse().ok())
            .collect()
    }

    /// Regression: the review and decline labels were placed beside their points, and two points
    /// close together (a gbdt model's, seen in a screenshot) had their labels drawn over each
    /// other.
    #[test]
    fn band_labels_never_overlap_however_close_the_points() {
        let model = crate::model::tests::example_model();
        // Two bands a hair apart: their points on each curve nearly coincide.
        let probabilities: Vec<f64> = (0..200).map(|i| f64::from(i) / 200.0).collect();
        let labels: Vec<bool> = (0..200).map(|i| i % 3 == 0 || i > 150).collect();
        let evaluation = Evaluation::new(&probabilities, &labels, 0.5);
        let rows = ndarray::Array2::zeros((200, crate::schema::N_FEATURES));
        for decline in [0.9, 0.901, 0.95] {
            let input = ReportInput {
                title: "t".into(),
                model: &model,
                policy: Policy { review: 0.9, decline: Some(decline) },
                probabilities: &probabilities,
                labels: &labels,
                rows: &rows,
                evaluation: &evaluation,
            };
            for svg in [precision_recall(&input), roc(&input)] {
                let (review, decline) = (label_ys(&svg, REVIEW), label_ys(&svg, DECLINE));
                assert_eq!((review.len(), decline.len()), (1, 1), "{svg}");
                assert!(
                    (review[0] - decline[0]).abs() >= 14.0,
                    "labels at y {review:?} and {decline:?} overlap (12 px text)"
                );
            }
        }
    }
}
