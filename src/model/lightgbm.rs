//! LightGBM's text model format (`booster.save_model("model.txt")`), both ways: reading one
//! into our trees (parsed once, every index and value checked, features matched to ours by
//! name), and writing our trees as one, for LightGBM's own tools and for tree compilers.
//!
//! Why by hand: the format is a few `key=value` lines per tree (LightGBM's `Tree::ToString`),
//! and the crates that read it bind LightGBM's C++ library. Only what a binary classifier can
//! hold is accepted: objective `binary`, one class, no linear trees, no averaged (random-forest)
//! output. Categorical splits keep LightGBM's category sets (`cat_boundaries`, `cat_threshold`).

use std::collections::HashMap;

use serde_json::json;

use super::trees::{Missing, Tree, TreeParams};
use crate::schema::{FEATURE_NAMES, feature_index};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("line {line}: {what}")]
    Syntax { line: usize, what: String },
    #[error("{0}")]
    Unsupported(String),
    #[error(
        "the model's features are [{found}]; fraud scores V1..V28 and Amount, each by name \
         (train on exactly those columns)"
    )]
    Features { found: String },
    #[error("tree {tree}: {what}")]
    Tree { tree: usize, what: String },
}

/// A model's text, split into the header and one key/value map per tree.
struct Sections<'a> {
    header: HashMap<&'a str, &'a str>,
    trees: Vec<(usize, HashMap<&'a str, &'a str>)>,
}

fn sections(text: &str) -> Result<Sections<'_>, ImportError> {
    let mut header = HashMap::new();
    let mut trees: Vec<(usize, HashMap<&str, &str>)> = Vec::new();
    let mut ended = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line == "end of trees" {
            ended = true;
            break;
        }
        if line.is_empty() || line == "tree" {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ImportError::Syntax { line: n + 1, what: format!("expected key=value, found {line:?}") });
        };
        if key == "Tree" {
            trees.push((n + 1, HashMap::new()));
        } else if let Some((_, tree)) = trees.last_mut() {
            tree.insert(key, value);
        } else {
            header.insert(key, value);
        }
    }
    if !ended {
        return Err(ImportError::Syntax {
            line: text.lines().count(),
            what: "no `end of trees` line: not a whole LightGBM text model".into(),
        });
    }
    Ok(Sections { header, trees })
}

fn numbers<T: std::str::FromStr>(
    tree: usize,
    map: &HashMap<&str, &str>,
    key: &str,
    expected: usize,
) -> Result<Vec<T>, ImportError> {
    let err = |what: String| ImportError::Tree { tree, what };
    let Some(text) = map.get(key) else {
        return if expected == 0 { Ok(Vec::new()) } else { Err(err(format!("no {key}"))) };
    };
    let values: Vec<T> = text
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| err(format!("{key}: {s:?} is not a number"))))
        .collect::<Result<_, _>>()?;
    if values.len() != expected {
        return Err(err(format!("{key} has {} values, expected {expected}", values.len())));
    }
    Ok(values)
}

/// Parses a LightGBM text model into trees over our feature order.
pub fn parse(text: &str) -> Result<TreeParams, ImportError> {
    let s = sections(text)?;
    let header = |key: &str| s.header.get(key).copied();
    let objective = header("objective").unwrap_or("");
    let mut words = objective.split(' ');
    if words.next() != Some("binary") {
        return Err(ImportError::Unsupported(format!(
            "objective {objective:?}: only `binary` models score fraud probabilities"
        )));
    }
    let sigmoid = match words.find_map(|w| w.strip_prefix("sigmoid:")) {
        Some(v) => {
            v.parse::<f64>().map_err(|_| ImportError::Unsupported(format!("objective {objective:?}: bad sigmoid")))?
        }
        None => 1.0,
    };
    if header("num_class").is_some_and(|n| n != "1") || header("num_tree_per_iteration").is_some_and(|n| n != "1") {
        return Err(ImportError::Unsupported("more than one class".into()));
    }
    if header("average_output").is_some() {
        return Err(ImportError::Unsupported("averaged output (a random forest), not boosted trees".into()));
    }
    let names: Vec<&str> = header("feature_names").unwrap_or("").split(' ').filter(|n| !n.is_empty()).collect();
    // Our index of each of the model's features; every one of ours exactly once.
    let ours: Vec<Option<usize>> = names.iter().map(|n| feature_index(n)).collect();
    let mut covered: Vec<usize> = ours.iter().flatten().copied().collect();
    covered.sort_unstable();
    covered.dedup();
    if ours.iter().any(Option::is_none) || covered.len() != FEATURE_NAMES.len() || names.len() != FEATURE_NAMES.len() {
        return Err(ImportError::Features { found: names.join(",") });
    }
    let mut trees = Vec::with_capacity(s.trees.len());
    for (t, (_, map)) in s.trees.iter().enumerate() {
        trees.push(tree(t, map, &ours)?);
    }
    Ok(TreeParams {
        base_score: 0.0,
        sigmoid,
        trees,
        origin: json!({
            "imported_from": "lightgbm",
            "version": header("version"),
            "objective": objective,
            "feature_names": names,
        }),
    })
}

fn tree(t: usize, map: &HashMap<&str, &str>, ours: &[Option<usize>]) -> Result<Tree, ImportError> {
    let err = |what: String| ImportError::Tree { tree: t, what };
    let leaves: usize =
        map.get("num_leaves").and_then(|v| v.parse().ok()).ok_or_else(|| err("no num_leaves".into()))?;
    if leaves == 0 {
        return Err(err("num_leaves is 0".into()));
    }
    let num_cat: usize = match map.get("num_cat") {
        None => 0,
        Some(v) => v.trim().parse().map_err(|_| err(format!("num_cat {v:?} is not a count")))?,
    };
    if map.get("is_linear").is_some_and(|v| *v != "0") {
        return Err(err("linear trees are not supported".into()));
    }
    let internal = leaves - 1;
    let leaf_value: Vec<f64> = numbers(t, map, "leaf_value", leaves)?;
    // A one-leaf tree carries its value only (`leaf_count=` is empty); its count serves
    // nothing, as no split divides it.
    let one_leaf_without_count = internal == 0 && map.get("leaf_count").is_none_or(|v| v.trim().is_empty());
    let leaf_count: Vec<f64> = if one_leaf_without_count { vec![0.0] } else { numbers(t, map, "leaf_count", leaves)? };
    let split: Vec<usize> = numbers(t, map, "split_feature", internal)?;
    let decision: Vec<u8> = numbers(t, map, "decision_type", internal)?;
    let mut tree = Tree {
        split_feature: Vec::with_capacity(internal),
        threshold: numbers(t, map, "threshold", internal)?,
        missing: Vec::with_capacity(internal),
        default_left: Vec::with_capacity(internal),
        left_child: numbers(t, map, "left_child", internal)?,
        right_child: numbers(t, map, "right_child", internal)?,
        internal_count: numbers(t, map, "internal_count", internal)?,
        leaf_value,
        leaf_count,
        categorical: if num_cat > 0 { decision.iter().map(|d| d & 1 != 0).collect() } else { vec![] },
        cat_boundaries: vec![],
        cat_threshold: vec![],
    };
    if num_cat > 0 {
        tree.cat_boundaries = numbers(t, map, "cat_boundaries", num_cat + 1)?;
        let words = tree.cat_boundaries.last().copied().unwrap_or(0) as usize;
        tree.cat_threshold = numbers(t, map, "cat_threshold", words)?;
    }
    for (i, (&f, &d)) in split.iter().zip(&decision).enumerate() {
        let feature = ours
            .get(f)
            .copied()
            .flatten()
            .ok_or_else(|| err(format!("node {i} splits on feature {f}, which the model does not name")))?;
        tree.split_feature.push(feature as u16);
        if d & 1 != 0 {
            if num_cat == 0 {
                return Err(err(format!(
                    "node {i} is a categorical split, but the tree has no category sets (num_cat=0)"
                )));
            }
            // A categorical node sends everything outside its set right: its default and
            // missing type are LightGBM's bookkeeping, unused.
            tree.default_left.push(false);
            tree.missing.push(Missing::Nan);
            continue;
        }
        tree.default_left.push(d & 2 != 0);
        tree.missing.push(match (d >> 2) & 3 {
            0 => Missing::None,
            1 => Missing::Zero,
            2 => Missing::Nan,
            other => return Err(err(format!("node {i} has missing type {other}"))),
        });
    }
    Ok(tree)
}

/// Our trees as a LightGBM text model: LightGBM, and tools that read its models (lleaves,
/// treelite), score it as we do. The base score goes into the first tree's leaves, as
/// LightGBM's `boost_from_average` keeps its own; numbers are written to round-trip exactly.
pub fn to_text(params: &TreeParams) -> String {
    use std::fmt::Write;
    let join = |v: Vec<String>| v.join(" ");
    let mut trees = Vec::with_capacity(params.trees.len());
    for (t, tree) in params.trees.iter().enumerate() {
        let base = if t == 0 { params.base_score } else { 0.0 };
        let n = tree.split_feature.len();
        let decision = (0..n).map(|i| {
            if tree.is_categorical(i) {
                // Categorical, missing type NaN, as LightGBM writes a categorical split.
                return (1 | (2 << 2)).to_string();
            }
            let missing = match tree.missing[i] {
                Missing::None => 0,
                Missing::Zero => 1,
                Missing::Nan => 2,
            };
            ((missing << 2) | (u8::from(tree.default_left[i]) << 1)).to_string()
        });
        let mut b = String::new();
        let num_cat = tree.categorical.iter().filter(|c| **c).count();
        let sets = if num_cat > 0 {
            format!(
                "cat_boundaries={}\ncat_threshold={}\n",
                join(tree.cat_boundaries.iter().map(u32::to_string).collect()),
                join(tree.cat_threshold.iter().map(u32::to_string).collect())
            )
        } else {
            String::new()
        };
        let _ = write!(
            b,
            "Tree={t}\nnum_leaves={}\nnum_cat={num_cat}\nsplit_feature={}\nsplit_gain={}\nthreshold={}\ndecision_type={}\n\
             left_child={}\nright_child={}\nleaf_value={}\nleaf_weight={}\nleaf_count={}\ninternal_value={}\n\
             internal_weight={}\ninternal_count={}\n{sets}is_linear=0\nshrinkage=1\n\n\n",
            tree.num_leaves(),
            join(tree.split_feature.iter().map(|f| f.to_string()).collect()),
            join(vec!["0".to_string(); n]),
            join(tree.threshold.iter().map(|v| format!("{v:?}")).collect()),
            join(decision.collect()),
            join(tree.left_child.iter().map(|c| c.to_string()).collect()),
            join(tree.right_child.iter().map(|c| c.to_string()).collect()),
            join(tree.leaf_value.iter().map(|v| format!("{:?}", v + base)).collect()),
            join(vec!["0".to_string(); tree.num_leaves()]),
            join(tree.leaf_count.iter().map(|c| format!("{}", *c as u64)).collect()),
            join(vec!["0".to_string(); n]),
            join(vec!["0".to_string(); n]),
            join(tree.internal_count.iter().map(|c| format!("{}", *c as u64)).collect()),
        );
        trees.push(b);
    }
    // A numerical feature's info is its [min:max] (LightGBM writes the training data's; tools
    // such as lleaves read the brackets as "numerical"); an unused feature's is `none`.
    // A categorical feature's info is its categories, LightGBM's `-1` (NaN and the rest) first:
    // here the codes its sets name.
    let mut range = vec![(f64::INFINITY, f64::NEG_INFINITY); FEATURE_NAMES.len()];
    let mut codes: Vec<Option<std::collections::BTreeSet<u32>>> = vec![None; FEATURE_NAMES.len()];
    for tree in &params.trees {
        for (i, (f, t)) in tree.split_feature.iter().zip(&tree.threshold).enumerate() {
            if tree.is_categorical(i) {
                codes[*f as usize].get_or_insert_with(Default::default).extend(tree.left_codes(i));
            } else {
                let r = &mut range[*f as usize];
                *r = (r.0.min(*t), r.1.max(*t));
            }
        }
    }
    let infos: Vec<String> = range
        .iter()
        .zip(&codes)
        .map(|((lo, hi), codes)| match codes {
            Some(c) => {
                std::iter::once("-1".to_string()).chain(c.iter().map(u32::to_string)).collect::<Vec<_>>().join(":")
            }
            None if lo <= hi => format!("[{lo:?}:{hi:?}]"),
            None => "none".into(),
        })
        .collect();
    let mut out = format!(
        "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx={}\n\
         objective=binary sigmoid:{:?}\nfeature_names={}\nfeature_infos={}\ntree_sizes={}\n\n",
        FEATURE_NAMES.len() - 1,
        params.sigmoid,
        FEATURE_NAMES.join(" "),
        infos.join(" "),
        join(trees.iter().map(|t| t.len().to_string()).collect()),
    );
    for t in trees {
        out.push_str(&t);
    }
    out.push_str("end of trees\n\nfeature_importances:\n\nparameters:\nend of parameters\n\npandas_categorical:null\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-written model in LightGBM's text format: two trees, features in another order.
    fn text() -> String {
        let mut names: Vec<&str> = FEATURE_NAMES.to_vec();
        names.reverse(); // model feature 0 is Amount, 15 is V14, 25 is V4
        format!(
            "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=28\n\
             objective=binary sigmoid:1\nfeature_names={}\nfeature_infos=none\ntree_sizes=1 1\n\n\
             Tree=0\nnum_leaves=3\nnum_cat=0\nsplit_feature=15 25\nsplit_gain=1 1\nthreshold=-2.5 1.0000000000000002\n\
             decision_type=2 10\nleft_child=-1 -2\nright_child=1 -3\nleaf_value=0.5 -0.25 0.125\n\
             leaf_weight=1 1 1\nleaf_count=10 20 70\ninternal_value=0 0\ninternal_weight=0 0\n\
             internal_count=100 90\nis_linear=0\nshrinkage=0.05\n\n\n\
             Tree=1\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\nthreshold=\ndecision_type=\n\
             left_child=\nright_child=\nleaf_value=-0.75\nleaf_weight=\nleaf_count=\ninternal_value=\n\
             internal_weight=\ninternal_count=\nis_linear=0\nshrinkage=1\n\n\nend of trees\n\n\
             feature_importances:\nV14=1\n\nparameters:\n[boosting: gbdt]\nend of parameters\n",
            names.join(" ")
        )
    }

    #[test]
    fn reads_trees_and_maps_features_by_name() {
        let p = parse(&text()).unwrap();
        p.check().unwrap();
        assert_eq!(p.trees.len(), 2);
        let t = &p.trees[0];
        assert_eq!(t.split_feature, vec![13, 3], "V14 and V4 in our order");
        assert_eq!(t.threshold[1], 1.0000000000000002);
        assert_eq!(t.missing, vec![Missing::None, Missing::Nan]);
        assert_eq!(t.default_left, vec![true, true]);
        assert_eq!(p.trees[1].leaf_value, vec![-0.75]);
        let mut row = [0.0; 29];
        row[13] = -3.0;
        assert_eq!(p.raw_reference(&row), 0.5 - 0.75);
    }

    #[test]
    fn refuses_what_it_cannot_score() {
        let e = |t: String| parse(&t).unwrap_err().to_string();
        assert!(e(text().replace("objective=binary sigmoid:1", "objective=regression")).contains("only `binary`"));
        assert!(e(text().replace("Amount", "Time")).contains("features are"));
        let extra = text().replacen("feature_names=", "feature_names=Time ", 1);
        assert!(e(extra).contains("features are"));
        assert!(e(text().replace("decision_type=2 10", "decision_type=3 10")).contains("no category sets"));
        assert!(e(text().replace("leaf_value=0.5 -0.25 0.125", "leaf_value=0.5 -0.25")).contains("expected 3"));
        assert!(e(text().replace("threshold=-2.5", "threshold=abc")).contains("not a number"));
        let whole = text();
        assert!(
            e(whole[..whole.find("end of trees").unwrap()].to_string()).contains("end of trees"),
            "a truncated file"
        );
        assert!(
            e(text()
                .replace("num_leaves=3", "num_leaves=3\nis_linear=1")
                .replace("is_linear=0\nshrinkage=0.05", "shrinkage=0.05"))
            .contains("linear")
        );
    }

    #[test]
    fn written_models_read_back_to_the_same_scores() {
        let mut p = crate::model::trees::tests::example_params();
        p.trees[0].threshold[0] = 0.1 + 0.2; // not a short decimal
        let back = parse(&to_text(&p)).unwrap();
        back.check().unwrap();
        assert_eq!(back.trees[0].threshold, p.trees[0].threshold);
        assert_eq!(back.trees[1].missing, p.trees[1].missing);
        assert_eq!(back.trees[1].default_left, p.trees[1].default_left);
        let mut row = [0.0; 29];
        for v in [-3.0, 0.3, 2.0] {
            row[13] = v;
            row[3] = -v;
            assert!((back.raw_reference(&row) - p.raw_reference(&row)).abs() < 1e-15);
        }
    }

    #[test]
    fn a_cycle_passes_parsing_and_fails_the_model_check() {
        let p = parse(&text().replace("right_child=1 -3", "right_child=1 0")).unwrap();
        assert!(p.check().unwrap_err().contains("reached twice"));
    }

    /// The text with its first tree's root a categorical split (set 0: codes {1, 2, 3, 7}).
    fn categorical_text() -> String {
        text()
            .replacen("num_cat=0", "num_cat=1", 1)
            .replace("threshold=-2.5 1.0000000000000002", "threshold=0 1.0000000000000002")
            .replace("decision_type=2 10", "decision_type=9 10")
            .replace("internal_count=100 90\n", "internal_count=100 90\ncat_boundaries=0 1\ncat_threshold=142\n")
    }

    #[test]
    fn reads_and_writes_category_sets() {
        let p = parse(&categorical_text()).unwrap();
        p.check().unwrap();
        let t = &p.trees[0];
        assert_eq!(
            (t.categorical.clone(), t.cat_boundaries.clone(), t.cat_threshold.clone()),
            (vec![true, false], vec![0, 1], vec![142])
        );
        let mut row = [0.0; 29];
        row[13] = 7.0; // V14, the categorical feature: code 7 is in the set
        assert_eq!(t.leaf(&row), 0);
        row[13] = 4.0;
        assert_ne!(t.leaf(&row), 0);
        let again = parse(&to_text(&p)).unwrap();
        assert_eq!(again.trees, p.trees, "a round trip keeps every node and set");
        assert!(to_text(&p).contains("decision_type=9 10\n"), "{}", to_text(&p));
        let bad = categorical_text().replace("cat_threshold=142\n", "");
        assert!(parse(&bad).unwrap_err().to_string().contains("no cat_threshold"));
    }
}
