//! LightGBM's text model format (`booster.save_model("model.txt")`), both ways: reading one
//! into our trees and a schema (parsed once, every index and value checked), and writing our
//! trees and schema as one, for LightGBM's own tools and for tree compilers.
//!
//! The schema is the model's features in its order, by name. A categorical feature's
//! categories are the model's `pandas_categorical` lists when it was trained on a pandas
//! DataFrame (a value's code is its position in its list, as LightGBM's Python package codes
//! it), and otherwise the integer codes themselves (`"0"`, `"1"`, ... up to the largest the
//! model knows).
//!
//! Why by hand: the format is a few `key=value` lines per tree (LightGBM's `Tree::ToString`),
//! and the crates that read it bind LightGBM's C++ library. Only what a binary classifier can
//! hold is accepted: objective `binary`, one class, no linear trees, no averaged (random-forest)
//! output. Categorical splits keep LightGBM's category sets (`cat_boundaries`, `cat_threshold`).

use std::collections::HashMap;

use serde_json::json;

use super::trees::{Missing, Tree, TreeParams};
use crate::schema::{Feature, LABEL_NAME, Schema, number_text};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("line {line}: {what}")]
    Syntax { line: usize, what: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("features: {0}")]
    Features(String),
    #[error("tree {tree}: {what}")]
    Tree { tree: usize, what: String },
}

/// A model's text, split into the header and one key/value map per tree.
struct Sections<'a> {
    header: HashMap<&'a str, &'a str>,
    trees: Vec<(usize, HashMap<&'a str, &'a str>)>,
    /// What follows `end of trees`: importances, parameters, `pandas_categorical`.
    tail: &'a str,
}

fn sections(text: &str) -> Result<Sections<'_>, ImportError> {
    let mut header = HashMap::new();
    let mut trees: Vec<(usize, HashMap<&str, &str>)> = Vec::new();
    let mut ended = None;
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        offset += line.len();
        let line = line.trim_end_matches(['\r', '\n']);
        if line == "end of trees" {
            ended = Some(offset);
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
    let Some(end) = ended else {
        return Err(ImportError::Syntax {
            line: text.lines().count(),
            what: "no `end of trees` line: not a whole LightGBM text model".into(),
        });
    };
    Ok(Sections { header, trees, tail: &text[end..] })
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

/// Parses a LightGBM text model into its schema and trees.
pub fn parse(text: &str) -> Result<(Schema, TreeParams), ImportError> {
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
    if names.is_empty() {
        return Err(ImportError::Features("the model names no features (no feature_names line)".into()));
    }
    // As LightGBM's own loader: names and indices that disagree are a damaged file.
    if let Some(max) = header("max_feature_idx") {
        let count = max.trim().parse::<usize>().ok().and_then(|m| m.checked_add(1));
        if count != Some(names.len()) {
            return Err(ImportError::Features(format!(
                "max_feature_idx {max} says {} features, feature_names has {}",
                count.map_or_else(|| "?".to_string(), |c| c.to_string()),
                names.len()
            )));
        }
    }
    let mut trees = Vec::with_capacity(s.trees.len());
    for (t, (_, map)) in s.trees.iter().enumerate() {
        trees.push(tree(t, map, names.len())?);
    }
    let infos: Vec<&str> = header("feature_infos").unwrap_or("").split(' ').collect();
    let schema = schema(&names, &infos, &trees, s.tail)?;
    let params = TreeParams {
        base_score: 0.0,
        sigmoid,
        trees,
        origin: json!({
            "imported_from": "lightgbm",
            "version": header("version"),
            "objective": objective,
            "feature_names": names,
        }),
    };
    Ok((schema, params))
}

/// The model's schema: its features in order; categorical ones (those the parameters name,
/// else those whose `feature_infos` lists categories, and any a categorical split uses) with
/// their categories.
fn schema(names: &[&str], infos: &[&str], trees: &[Tree], tail: &str) -> Result<Schema, ImportError> {
    let named = tail.lines().find_map(|l| l.trim().strip_prefix("[categorical_feature: ")?.strip_suffix(']'));
    let mut categorical = vec![false; names.len()];
    match named {
        Some(list) => {
            for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let j: usize = item.parse().map_err(|_| {
                    ImportError::Features(format!("categorical_feature {item:?} is not a feature index"))
                })?;
                *categorical.get_mut(j).ok_or_else(|| {
                    ImportError::Features(format!("categorical_feature {j} is beyond the model's features"))
                })? = true;
            }
        }
        None => {
            for (j, info) in infos.iter().enumerate().take(names.len()) {
                categorical[j] = !info.starts_with('[') && *info != "none" && !info.is_empty();
            }
        }
    }
    // The largest code each categorical feature is known to have.
    let mut max_code: Vec<Option<u32>> = vec![None; names.len()];
    for tree in trees {
        for i in 0..tree.split_feature.len() {
            if tree.is_categorical(i) {
                let f = usize::from(tree.split_feature[i]);
                categorical[f] = true;
                let top = tree.left_codes(i).into_iter().max();
                max_code[f] = max_code[f].max(top);
            }
        }
    }
    for (j, info) in infos.iter().enumerate().take(names.len()) {
        if categorical[j] {
            let top = info.split(':').filter_map(|c| c.parse::<u32>().ok()).max();
            max_code[j] = max_code[j].max(top);
        }
    }
    let lists = pandas_categorical(tail)?;
    let wanted = categorical.iter().filter(|c| **c).count();
    if let Some(lists) = &lists
        && lists.len() != wanted
    {
        return Err(ImportError::Features(format!(
            "pandas_categorical has {} lists of categories, the model has {wanted} categorical features",
            lists.len()
        )));
    }
    let mut lists = lists.map(Vec::into_iter);
    let features = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            if !categorical[j] {
                return Feature::numeric(name);
            }
            let categories = match lists.as_mut().and_then(Iterator::next) {
                Some(list) => list,
                None => (0..=max_code[j].unwrap_or(0)).map(|c| c.to_string()).collect(),
            };
            Feature::categorical(name, categories)
        })
        .collect();
    // The label is the importer's to name; a model may well have a feature called `Class`.
    let label = if names.contains(&LABEL_NAME) { "" } else { LABEL_NAME };
    Schema::new(features, label, None, None).map_err(|e| ImportError::Features(e.to_string()))
}

/// The `pandas_categorical:` line's lists (None when it is `null` or absent): one list of
/// categories per categorical column of the DataFrame, in column order; numbers become their
/// text.
fn pandas_categorical(tail: &str) -> Result<Option<Vec<Vec<String>>>, ImportError> {
    let Some(json) = tail.lines().find_map(|l| l.strip_prefix("pandas_categorical:")) else {
        return Ok(None);
    };
    let bad = |what: String| ImportError::Features(format!("pandas_categorical: {what}"));
    let value: serde_json::Value = serde_json::from_str(json.trim()).map_err(|e| bad(e.to_string()))?;
    let serde_json::Value::Array(lists) = value else {
        return if value.is_null() { Ok(None) } else { Err(bad("not a list of lists".into())) };
    };
    lists
        .iter()
        .map(|list| {
            let serde_json::Value::Array(items) = list else { return Err(bad("not a list of lists".into())) };
            items
                .iter()
                .map(|item| match item {
                    serde_json::Value::String(s) => Ok(s.clone()),
                    serde_json::Value::Number(n) => n.as_f64().map(number_text).ok_or_else(|| bad(format!("{n}"))),
                    serde_json::Value::Bool(b) => Ok(b.to_string()),
                    other => Err(bad(format!("{other} is not a category"))),
                })
                .collect()
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn tree(t: usize, map: &HashMap<&str, &str>, features: usize) -> Result<Tree, ImportError> {
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
        if f >= features {
            return Err(err(format!("node {i} splits on feature {f}, which the model does not name")));
        }
        let feature = u16::try_from(f).map_err(|_| err(format!("node {i}: feature {f} is beyond 65535")))?;
        tree.split_feature.push(feature);
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
/// The categorical features are named in the parameters, and their categories written as
/// `pandas_categorical` lists, so LightGBM's Python package codes a DataFrame's strings as we do.
pub fn to_text(params: &TreeParams, schema: &Schema) -> String {
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
    let width = schema.width();
    let mut range = vec![(f64::INFINITY, f64::NEG_INFINITY); width];
    let mut codes: Vec<Option<std::collections::BTreeSet<u32>>> = (0..width)
        .map(|j| schema.is_categorical(j).then(|| (0..schema.features()[j].categories().len() as u32).collect()))
        .collect();
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
        width - 1,
        params.sigmoid,
        schema.names().collect::<Vec<_>>().join(" "),
        infos.join(" "),
        join(trees.iter().map(|t| t.len().to_string()).collect()),
    );
    for t in trees {
        out.push_str(&t);
    }
    let categorical: Vec<usize> = (0..width).filter(|&j| schema.is_categorical(j)).collect();
    let named = if categorical.is_empty() {
        String::new()
    } else {
        format!(
            "[categorical_feature: {}]\n",
            join(categorical.iter().map(usize::to_string).collect()).replace(' ', ",")
        )
    };
    let lists: Vec<&[String]> =
        schema.features().iter().filter(|f| f.is_categorical()).map(|f| f.categories()).collect();
    let pandas = if lists.is_empty() { "null".to_string() } else { json!(lists).to_string() };
    let _ = write!(
        out,
        "end of trees\n\nfeature_importances:\n\nparameters:\n{named}end of parameters\n\npandas_categorical:{pandas}\n"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{FEATURE_NAMES, N_FEATURES, UNSEEN};

    /// A hand-written model in LightGBM's text format: two trees, the Kaggle features in
    /// reverse order (model feature 0 is Amount, 15 is V14, 25 is V4).
    fn text() -> String {
        let mut names: Vec<&str> = FEATURE_NAMES.to_vec();
        names.reverse();
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

    /// A row of the Kaggle data (V1..V28, Amount) in the model's order, each feature found by name.
    fn by_name(schema: &Schema, kaggle: &[f64; N_FEATURES]) -> Vec<f64> {
        let map = schema.columns(&FEATURE_NAMES).unwrap();
        (0..schema.width()).map(|j| kaggle[map.source(j)]).collect()
    }

    #[test]
    fn a_feature_may_be_called_class() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lightgbm/sample.txt"),
        )
        .unwrap()
        .replacen(" V14 ", " Class ", 1);
        let (schema, _) = parse(&text).unwrap();
        assert!(schema.index("Class").is_some());
    }

    #[test]
    fn reads_trees_in_the_models_order_and_data_maps_onto_it_by_name() {
        let (schema, p) = parse(&text()).unwrap();
        p.check(&schema).unwrap();
        let mut reversed = FEATURE_NAMES.to_vec();
        reversed.reverse();
        assert_eq!(schema.names().collect::<Vec<_>>(), reversed, "the model's features, in its order");
        assert!(!schema.has_categorical());
        assert_eq!((schema.label.as_str(), &schema.id, &schema.time), (LABEL_NAME, &None, &None));
        assert_eq!(p.trees.len(), 2);
        let t = &p.trees[0];
        assert_eq!(t.split_feature, vec![15, 25], "the model's own indices");
        assert_eq!((schema.name(15), schema.name(25)), ("V14", "V4"));
        assert_eq!(t.threshold[1], 1.0000000000000002);
        assert_eq!(t.missing, vec![Missing::None, Missing::Nan]);
        assert_eq!(t.default_left, vec![true, true]);
        assert_eq!(p.trees[1].leaf_value, vec![-0.75]);
        let mut kaggle = [0.0; N_FEATURES];
        kaggle[13] = -3.0; // V14 <= -2.5: leaf 0
        let row = by_name(&schema, &kaggle);
        assert_eq!((row[15], row[25]), (-3.0, 0.0));
        assert_eq!(p.raw_reference(&row), 0.5 - 0.75);
        kaggle[13] = 0.0;
        kaggle[3] = 2.0; // V4 > 1.0000000000000002: leaf 2
        assert_eq!(p.raw_reference(&by_name(&schema, &kaggle)), 0.125 - 0.75);
        kaggle[3] = f64::NAN; // V4's node: NaN is missing, default left
        assert_eq!(p.raw_reference(&by_name(&schema, &kaggle)), -0.25 - 0.75);
    }

    #[test]
    fn a_model_of_other_features_reads_and_data_without_them_is_refused_by_name() {
        // Once refused at import; now any features are the model's own, and what must agree is
        // the data: columns are mapped by name, and a feature the data lacks is named.
        let (schema, p) = parse(&text().replace("Amount", "Time")).unwrap();
        p.check(&schema).unwrap();
        assert_eq!(schema.name(0), "Time");
        assert_eq!(schema.columns(&FEATURE_NAMES).unwrap_err().0, ["Time"]);
        let extra = text()
            .replacen("feature_names=", "feature_names=Time ", 1)
            .replace("max_feature_idx=28", "max_feature_idx=29");
        let (schema, p) = parse(&extra).unwrap();
        p.check(&schema).unwrap();
        assert_eq!(schema.width(), 30);
        assert_eq!(schema.columns(&FEATURE_NAMES).unwrap_err().0, ["Time"]);
        let mut with_time = vec!["Time"];
        with_time.extend(FEATURE_NAMES);
        assert_eq!(schema.columns(&with_time).unwrap().source(0), 0);
    }

    #[test]
    fn refuses_what_it_cannot_score() {
        let e = |t: String| parse(&t).unwrap_err().to_string();
        assert!(e(text().replace("objective=binary sigmoid:1", "objective=regression")).contains("only `binary`"));
        assert!(e(text().replace(" V13 ", " V14 ")).contains("two features are named \"V14\""));
        assert!(e(text().replace("feature_names=", "feature_nomes=")).contains("names no features"));
        let extra = text().replacen("feature_names=", "feature_names=Time ", 1);
        assert!(e(extra).contains("max_feature_idx 28 says 29 features, feature_names has 30"));
        assert!(
            e(text().replace("split_feature=15 25", "split_feature=15 29"))
                .contains("node 1 splits on feature 29, which the model does not name")
        );
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
        let kaggle = Schema::kaggle();
        let text = to_text(&p, &kaggle);
        assert!(!text.contains("[categorical_feature"), "no categorical features to name");
        assert!(text.ends_with("pandas_categorical:null\n"));
        let (schema, back) = parse(&text).unwrap();
        assert_eq!(schema, kaggle);
        assert!(schema.is_kaggle());
        back.check(&schema).unwrap();
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
        let (schema, p) = parse(&text().replace("right_child=1 -3", "right_child=1 0")).unwrap();
        assert!(p.check(&schema).unwrap_err().contains("reached twice"));
    }

    /// The text with its first tree's root a categorical split on model feature 15 (set 0:
    /// codes {1, 2, 3, 7}).
    fn categorical_text() -> String {
        text()
            .replacen("num_cat=0", "num_cat=1", 1)
            .replace("threshold=-2.5 1.0000000000000002", "threshold=0 1.0000000000000002")
            .replace("decision_type=2 10", "decision_type=9 10")
            .replace("internal_count=100 90\n", "internal_count=100 90\ncat_boundaries=0 1\ncat_threshold=142\n")
    }

    #[test]
    fn reads_and_writes_category_sets() {
        let (schema, p) = parse(&categorical_text()).unwrap();
        p.check(&schema).unwrap();
        // Neither the parameters nor pandas name it: the split makes V14 categorical, and its
        // categories are the codes up to the largest its set holds.
        let categorical: Vec<&str> =
            schema.features().iter().filter(|f| f.is_categorical()).map(|f| f.name.as_str()).collect();
        assert_eq!(categorical, ["V14"]);
        assert_eq!(schema.features()[15].categories(), ["0", "1", "2", "3", "4", "5", "6", "7"]);
        let t = &p.trees[0];
        assert_eq!(
            (t.categorical.clone(), t.cat_boundaries.clone(), t.cat_threshold.clone()),
            (vec![true, false], vec![0, 1], vec![142])
        );
        let mut row = [0.0; 29];
        row[15] = schema.code(15, "7"); // in the set
        assert_eq!(t.leaf(&row), 0);
        for v in [schema.code(15, "4"), schema.code(15, "9"), UNSEEN, f64::NAN] {
            row[15] = v;
            assert_ne!(t.leaf(&row), 0, "{v} goes right");
        }
        let written = to_text(&p, &schema);
        assert!(written.contains("decision_type=9 10\n"), "{written}");
        assert!(written.contains("\n[categorical_feature: 15]\n"), "{written}");
        assert!(
            written.contains("\npandas_categorical:[[\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\"]]\n"),
            "{written}"
        );
        let (again_schema, again) = parse(&written).unwrap();
        assert_eq!(again_schema, schema);
        assert_eq!(again.trees, p.trees, "a round trip keeps every node and set");
        let bad = categorical_text().replace("cat_threshold=142\n", "");
        assert!(parse(&bad).unwrap_err().to_string().contains("no cat_threshold"));
    }

    /// The categorical text with feature_infos for every feature (15 knows codes up to 12, 20
    /// up to 2), `[categorical_feature: ...]` naming `named`, and a `pandas_categorical` line.
    fn named_text(named: &str, pandas: &str) -> String {
        let infos: Vec<&str> = (0..N_FEATURES)
            .map(|j| match j {
                15 => "-1:1:2:12:3:7",
                20 => "-1:0:2",
                _ => "[-1:1]",
            })
            .collect();
        categorical_text()
            .replace("feature_infos=none", &format!("feature_infos={}", infos.join(" ")))
            .replace("[boosting: gbdt]\n", &format!("[boosting: gbdt]\n[categorical_feature: {named}]\n"))
            + &format!("\npandas_categorical:{pandas}\n")
    }

    #[test]
    fn categories_are_the_pandas_lists_else_the_codes_the_model_knows() {
        let (schema, p) = parse(&named_text("15,20", "null")).unwrap();
        p.check(&schema).unwrap();
        let codes = |n: usize| (0..=n).map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(schema.features()[15].categories(), codes(12), "feature_infos knows 12, the set 7");
        assert_eq!(schema.features()[20].categories(), codes(2), "named, though no node splits on it");
        assert_eq!(schema.features().iter().filter(|f| f.is_categorical()).count(), 2);

        let lists = r#"[["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"], [4829, 5411.0, "NA"]]"#;
        let (schema, p) = parse(&named_text("15,20", lists)).unwrap();
        p.check(&schema).unwrap();
        assert_eq!(schema.features()[15].categories()[7], "h");
        assert_eq!(schema.features()[20].categories(), ["4829", "5411", "NA"]);
        assert_eq!((schema.code(20, "5411"), schema.code(20, "NA"), schema.code(20, "7995")), (1.0, 2.0, UNSEEN));
        let mut row = [0.0; 29];
        row[15] = schema.code(15, "h"); // code 7: in the set
        assert_eq!(p.trees[0].leaf(&row), 0);
        row[15] = schema.code(15, "z"); // unseen
        assert_ne!(p.trees[0].leaf(&row), 0);

        let e = |t: String| parse(&t).unwrap_err().to_string();
        assert!(e(named_text("15,20", r#"[["a"]]"#)).contains("pandas_categorical has 1 lists"));
        assert!(e(named_text("15,20", r#"[["a"], {"b": 1}]"#)).contains("not a list of lists"));
        assert!(e(named_text("15,20", r#"[["a"], [null]]"#)).contains("null is not a category"));
        assert!(e(named_text("15,29", "null")).contains("categorical_feature 29 is beyond"));
        assert!(e(named_text("15,x", "null")).contains("\"x\" is not a feature index"));
        // Named categorical, split numerically: the model check refuses it.
        let (schema, p) = parse(&named_text("15,25", "null")).unwrap();
        assert!(p.check(&schema).unwrap_err().contains("numeric split on \"V4\", a categorical feature"));
    }
}
