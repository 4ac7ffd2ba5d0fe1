//! Classification metrics for a scored, labelled set: confusion matrix, precision/recall/F1,
//! average precision (AUPRC) and ROC-AUC, computed as scikit-learn computes them (tied scores
//! are one threshold).

use serde::{Deserialize, Serialize};

/// Counts at one decision threshold (a row is flagged when its probability is >= threshold).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl Confusion {
    pub fn at(probabilities: &[f64], labels: &[bool], threshold: f64) -> Self {
        let mut c = Confusion::default();
        for (&p, &fraud) in probabilities.iter().zip(labels) {
            match (p >= threshold, fraud) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, false) => c.tn += 1,
                (false, true) => c.fn_ += 1,
            }
        }
        c
    }

    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }

    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.total())
    }

    /// 0 when nothing is flagged, as scikit-learn's `zero_division=0`.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 { 0.0 } else { num as f64 / den as f64 }
}

/// Threshold-dependent metrics at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AtThreshold {
    pub threshold: f64,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    #[serde(flatten)]
    pub confusion: Confusion,
}

impl AtThreshold {
    pub fn new(probabilities: &[f64], labels: &[bool], threshold: f64) -> Self {
        let confusion = Confusion::at(probabilities, labels, threshold);
        Self {
            threshold,
            accuracy: confusion.accuracy(),
            precision: confusion.precision(),
            recall: confusion.recall(),
            f1: confusion.f1(),
            confusion,
        }
    }
}

/// Everything reported for one scored set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub rows: usize,
    pub frauds: usize,
    pub auprc: f64,
    pub roc_auc: f64,
    /// At the model's chosen threshold.
    pub chosen: AtThreshold,
    /// At 0.5, for comparison with an untuned model.
    pub at_half: AtThreshold,
}

impl Evaluation {
    pub fn new(probabilities: &[f64], labels: &[bool], threshold: f64) -> Self {
        let curve = Curve::new(probabilities, labels);
        Self {
            rows: labels.len(),
            frauds: labels.iter().filter(|l| **l).count(),
            auprc: curve.average_precision(),
            roc_auc: curve.roc_auc(),
            chosen: AtThreshold::new(probabilities, labels, threshold),
            at_half: AtThreshold::new(probabilities, labels, 0.5),
        }
    }
}

/// Cumulative (false positives, true positives) at each distinct score, highest score first.
struct Curve {
    /// (score, fp, tp) after including every row with that score.
    points: Vec<(f64, u64, u64)>,
    positives: u64,
    negatives: u64,
}

impl Curve {
    fn new(scores: &[f64], labels: &[bool]) -> Self {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let mut points: Vec<(f64, u64, u64)> = Vec::new();
        let (mut fp, mut tp) = (0, 0);
        for (k, &i) in order.iter().enumerate() {
            if labels[i] {
                tp += 1
            } else {
                fp += 1
            }
            let last_of_tie = order.get(k + 1).is_none_or(|&next| scores[next] != scores[i]);
            if last_of_tie {
                points.push((scores[i], fp, tp));
            }
        }
        Self { points, positives: tp, negatives: fp }
    }

    /// Σ (R_k − R_{k−1}) · P_k, scikit-learn's `average_precision_score`.
    fn average_precision(&self) -> f64 {
        if self.positives == 0 {
            return 0.0;
        }
        let mut ap = 0.0;
        let mut prev_recall = 0.0;
        for &(_, fp, tp) in &self.points {
            let recall = tp as f64 / self.positives as f64;
            let precision = tp as f64 / (tp + fp) as f64;
            ap += (recall - prev_recall) * precision;
            prev_recall = recall;
        }
        ap
    }

    /// Area under the ROC curve by the trapezoid rule over distinct scores (ties count half).
    fn roc_auc(&self) -> f64 {
        if self.positives == 0 || self.negatives == 0 {
            return f64::NAN;
        }
        let (mut area, mut prev_fpr, mut prev_tpr) = (0.0, 0.0, 0.0);
        for &(_, fp, tp) in &self.points {
            let fpr = fp as f64 / self.negatives as f64;
            let tpr = tp as f64 / self.positives as f64;
            area += (fpr - prev_fpr) * (tpr + prev_tpr) / 2.0;
            (prev_fpr, prev_tpr) = (fpr, tpr);
        }
        area
    }
}

/// The curve's points, highest score first: (score, false positives, true positives) once every
/// row with that score is counted; and the positives and negatives in all.
pub fn curve_points(scores: &[f64], labels: &[bool]) -> (Vec<(f64, u64, u64)>, u64, u64) {
    let c = Curve::new(scores, labels);
    (c.points, c.positives, c.negatives)
}

/// Average precision (AUPRC) of scores against labels, as scikit-learn computes it.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> f64 {
    Curve::new(scores, labels).average_precision()
}

/// The threshold with the best F1 on these scores: one of the scores themselves, as
/// scikit-learn's `precision_recall_curve` offers them. Ties on F1 go to the higher threshold.
pub fn best_f1_threshold(scores: &[f64], labels: &[bool]) -> f64 {
    let curve = Curve::new(scores, labels);
    let mut best = (f64::NEG_INFINITY, 0.5);
    for &(score, fp, tp) in &curve.points {
        let fn_ = curve.positives - tp;
        let f1 = ratio(2 * tp, 2 * tp + fp + fn_);
        if f1 > best.0 {
            best = (f1, score);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {

    #[test]
    fn card_precision_by_hand() {
        // Day 0: cards 1 (fraud, 0.9), 2 (0.8), 3 (fraud, 0.1); top 2 finds card 1.
        // Day 1: card 1 again (found, left out), card 2 (fraud, 0.5), card 3 (0.5): a tie in
        // score goes to the smaller card, 2, a fraud; then 3.
        let scores = [0.9, 0.2, 0.8, 0.1, 0.95, 0.5, 0.5];
        let labels = [true, false, false, true, true, true, false];
        let cards = [1, 1, 2, 3, 1, 2, 3];
        let days = [0, 0, 0, 0, 1, 1, 1];
        let cp = CardPrecision::new(&scores, &labels, &cards, &days, 2);
        assert_eq!((cp.days, cp.value), (2, (0.5 + 0.5) / 2.0));
        let cp = CardPrecision::new(&scores, &labels, &cards, &days, 1);
        assert_eq!(cp.value, (1.0 + 1.0) / 2.0);
    }

    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn confusion_counts_and_ratios() {
        let p = [0.9, 0.8, 0.3, 0.2, 0.6];
        let y = [true, false, true, false, false];
        let c = Confusion::at(&p, &y, 0.5);
        assert_eq!(c, Confusion { tp: 1, fp: 2, tn: 1, fn_: 1 });
        assert!(close(c.accuracy(), 0.4));
        assert!(close(c.precision(), 1.0 / 3.0));
        assert!(close(c.recall(), 0.5));
        assert!(close(c.f1(), 0.4));
    }

    #[test]
    fn nothing_flagged_gives_zero_precision_not_nan() {
        let c = Confusion::at(&[0.1, 0.2], &[true, false], 0.5);
        assert_eq!(c.precision(), 0.0);
        assert_eq!(c.f1(), 0.0);
    }

    // sklearn: average_precision_score([0,0,1,1],[0.1,0.4,0.35,0.8]) == 0.8333...
    //          roc_auc_score(same) == 0.75
    #[test]
    fn matches_scikit_learn_on_its_doc_example() {
        let y = [false, false, true, true];
        let p = [0.1, 0.4, 0.35, 0.8];
        let e = Evaluation::new(&p, &y, 0.5);
        assert!(close(e.auprc, 5.0 / 6.0));
        assert!(close(e.roc_auc, 0.75));
    }

    // Ties: scores [0.5,0.5,0.5,0.1], labels [1,0,1,0].
    // One threshold at 0.5: recall 1, precision 2/3 -> AP = 2/3.
    // ROC points (0,0) -> (0.5,1) -> (1,1): area = 0.5*0.5 + 0.5*1 = 0.75.
    #[test]
    fn tied_scores_are_one_threshold() {
        let y = [true, false, true, false];
        let p = [0.5, 0.5, 0.5, 0.1];
        let e = Evaluation::new(&p, &y, 0.5);
        assert!(close(e.auprc, 2.0 / 3.0));
        assert!(close(e.roc_auc, 0.75));
    }

    #[test]
    fn all_tied_is_chance() {
        let y = [true, false, false, true, false];
        let p = [0.3; 5];
        let e = Evaluation::new(&p, &y, 0.5);
        assert!(close(e.roc_auc, 0.5));
        assert!(close(e.auprc, 0.4)); // the positive rate
    }

    #[test]
    fn perfect_ranking() {
        let y = [false, true, false, true];
        let p = [0.1, 0.9, 0.2, 0.8];
        let e = Evaluation::new(&p, &y, 0.5);
        assert!(close(e.auprc, 1.0));
        assert!(close(e.roc_auc, 1.0));
        assert!(close(best_f1_threshold(&p, &y), 0.8));
    }

    #[test]
    fn best_threshold_maximises_f1() {
        // Cut at 0.7 flags {0.9:1, 0.7:1} -> F1 = 2*2/(4+0+1) = 0.8;
        // cut at 0.4 flags 4 with 3 tp -> 6/7 = 0.857 (best); cut at 0.1 -> 6/(6+2+0) = 0.75.
        let p = [0.9, 0.7, 0.5, 0.4, 0.1];
        let y = [true, true, false, true, false];
        assert!(close(best_f1_threshold(&p, &y), 0.4));
    }
}

/// Card precision top-k, as the Fraud Detection Handbook defines it (its chapter 4): for each
/// day, each card's score is its highest transaction score that day and it is compromised if
/// any of its transactions that day is a fraud; the k highest-scored cards are checked and the
/// share of them compromised is the day's value (always over k). A compromised card found on a
/// day is left out of the later days. The result is the mean over days. Ties in score go to
/// the smaller card number, so the value does not depend on row order. `cards[i]` is u32::MAX
/// for a row with no card, which then counts for nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardPrecision {
    pub k: usize,
    pub value: f64,
    pub days: usize,
}

impl CardPrecision {
    pub fn new(scores: &[f64], labels: &[bool], cards: &[u32], days: &[i64], k: usize) -> CardPrecision {
        let mut by_day: std::collections::BTreeMap<i64, Vec<usize>> = std::collections::BTreeMap::new();
        for (i, &d) in days.iter().enumerate() {
            if cards[i] != u32::MAX {
                by_day.entry(d).or_default().push(i);
            }
        }
        let mut found: std::collections::HashSet<u32> = std::collections::HashSet::new();
        let mut per_day = Vec::with_capacity(by_day.len());
        for rows in by_day.values() {
            let mut cards_today: std::collections::HashMap<u32, (f64, bool)> = std::collections::HashMap::new();
            for &i in rows {
                if found.contains(&cards[i]) {
                    continue;
                }
                let e = cards_today.entry(cards[i]).or_insert((f64::NEG_INFINITY, false));
                e.0 = e.0.max(scores[i]);
                e.1 |= labels[i];
            }
            let mut ranked: Vec<(u32, f64, bool)> = cards_today.into_iter().map(|(c, (s, l))| (c, s, l)).collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let top: Vec<u32> = ranked.iter().take(k).filter(|c| c.2).map(|c| c.0).collect();
            per_day.push(top.len() as f64 / k as f64);
            found.extend(top);
        }
        let value = if per_day.is_empty() { 0.0 } else { per_day.iter().sum::<f64>() / per_day.len() as f64 };
        CardPrecision { k, value, days: per_day.len() }
    }
}
