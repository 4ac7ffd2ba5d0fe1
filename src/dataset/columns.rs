//! Which input column is what: chosen from a file's header when training (a [`Selection`]), or
//! the columns of a model's schema when scoring. Shared by every file format.

use std::path::Path;
use std::sync::Arc;

use super::error::DatasetError;
use super::layout::{Layout, MAX_INFERRED_CATEGORIES, Role};
use crate::schema::{LABEL_NAME, Schema};

/// Which columns of a training file are the label, the id, the time and the features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub label: String,
    /// Carried along, never a feature.
    pub id: Option<String>,
    /// The event time, never a feature.
    pub time: Option<String>,
    /// The features in this order; `None`: every other column, in file order, but `exclude`.
    pub features: Option<Vec<String>>,
    pub exclude: Vec<String>,
    /// Features read as categories even when their values are numbers.
    pub categorical: Vec<String>,
}

impl Default for Selection {
    /// The ULB/Kaggle file's: label `Class`, every column but `Time` a feature.
    fn default() -> Selection {
        Selection {
            label: LABEL_NAME.to_string(),
            id: None,
            time: None,
            features: None,
            exclude: vec!["Time".to_string()],
            categorical: Vec::new(),
        }
    }
}

/// Whether a column must be in the file, or is read when it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    IfPresent,
}

/// How to find the columns of a file.
pub(super) enum Columns<'a> {
    Choose(&'a Selection),
    Of {
        schema: &'a Arc<Schema>,
        labels: Need,
        id: Option<(&'a str, Need)>,
    },
    /// Every column but the label (when there) and `exclude`, kinds from the data, categories
    /// uncapped: what a producer sends.
    All {
        label: &'a str,
        exclude: &'a [String],
    },
}

/// The header resolved.
pub(super) struct Resolved {
    pub layout: Layout,
    pub label: String,
    pub id: Option<String>,
    pub time: Option<String>,
    /// Said to the user: the columns read as categorical because they are not numbers, the
    /// exclusions that matched nothing.
    pub notes: Vec<String>,
}

/// Resolves `names` (the header) into roles. `looks_numeric(c)`: whether column `c`'s first
/// values are all numbers or blank, for choosing a feature's kind.
pub(super) fn resolve(
    path: &Path,
    names: &[String],
    columns: &Columns<'_>,
    looks_numeric: &dyn Fn(usize) -> bool,
) -> Result<Resolved, DatasetError> {
    let header = Header { path, names };
    match columns {
        Columns::Choose(sel) => choose(&header, sel, looks_numeric),
        Columns::Of { schema, labels, id } => of_schema(&header, schema, *labels, *id),
        Columns::All { label, exclude } => all(&header, label, exclude, looks_numeric),
    }
}

struct Header<'a> {
    path: &'a Path,
    names: &'a [String],
}

impl Header<'_> {
    /// The column called `name`: None if absent, an error if the header has it twice.
    fn find(&self, name: &str) -> Result<Option<usize>, DatasetError> {
        let mut at = self.names.iter().enumerate().filter(|(_, n)| *n == name).map(|(c, _)| c);
        match (at.next(), at.next()) {
            (Some(_), Some(_)) => Err(DatasetError::Columns {
                path: self.path.to_path_buf(),
                what: format!("the header has two columns named {name:?}"),
            }),
            (c, _) => Ok(c),
        }
    }

    fn columns_error(&self, what: String) -> DatasetError {
        DatasetError::Columns { path: self.path.to_path_buf(), what }
    }

    fn missing(&self, missing: &[&str], expected: String) -> DatasetError {
        DatasetError::MissingColumns {
            path: self.path.to_path_buf(),
            missing: format!("no column(s) {}", missing.join(", ")),
            expected,
        }
    }
}

fn choose<'a>(
    h: &Header<'_>,
    sel: &'a Selection,
    looks_numeric: &dyn Fn(usize) -> bool,
) -> Result<Resolved, DatasetError> {
    let mut roles = vec![Role::Skip; h.names.len()];
    let mut missing: Vec<&str> = Vec::new();
    let mut notes = Vec::new();
    let place = |name: &'a str, role: Role, roles: &mut Vec<Role>, missing: &mut Vec<&'a str>| match h.find(name)? {
        Some(c) if roles[c] != Role::Skip => {
            Err(h.columns_error(format!("column {name:?} is named for two roles (label, id, time, feature)")))
        }
        Some(c) => {
            roles[c] = role;
            Ok(())
        }
        None => {
            missing.push(name);
            Ok(())
        }
    };
    place(&sel.label, Role::Label, &mut roles, &mut missing)?;
    if let Some(id) = &sel.id {
        place(id, Role::Id, &mut roles, &mut missing)?;
    }
    if let Some(time) = &sel.time {
        place(time, Role::Time, &mut roles, &mut missing)?;
    }
    let mut features: Vec<(usize, String)> = Vec::new();
    match &sel.features {
        Some(list) => {
            for name in list {
                if features.iter().any(|(_, n)| n == name) {
                    return Err(h.columns_error(format!("--features names {name:?} twice")));
                }
                match h.find(name)? {
                    Some(c) if roles[c] != Role::Skip => {
                        return Err(h.columns_error(format!(
                            "{name:?} is the label, id or time column, and cannot also be a feature"
                        )));
                    }
                    Some(c) => features.push((c, name.clone())),
                    None => missing.push(name),
                }
            }
        }
        None => {
            for excluded in &sel.exclude {
                if h.find(excluded)?.is_none() && *sel.exclude != Selection::default().exclude {
                    notes.push(format!("--exclude names {excluded:?}, which the file does not have"));
                }
            }
            for (c, name) in h.names.iter().enumerate() {
                if roles[c] != Role::Skip || sel.exclude.contains(name) {
                    continue;
                }
                if name.is_empty() {
                    notes.push(format!("column {} has no name and is not used", c + 1));
                    continue;
                }
                if h.find(name).is_err() {
                    return Err(h.columns_error(format!(
                        "the header has two columns named {name:?}; exclude it or rename one"
                    )));
                }
                features.push((c, name.clone()));
            }
        }
    }
    if !missing.is_empty() {
        return Err(h.missing(&missing, format!("the file's columns are {}", h.names.join(","))));
    }
    if features.is_empty() {
        return Err(h.columns_error("no column is left to be a feature".into()));
    }
    for name in &sel.categorical {
        if !features.iter().any(|(_, n)| n == name) {
            return Err(h.columns_error(format!("--categorical names {name:?}, which is not a feature")));
        }
    }
    let mut inferred = Vec::with_capacity(features.len());
    for (j, (c, name)) in features.iter().enumerate() {
        let named = sel.categorical.contains(name);
        roles[*c] = if named || !looks_numeric(*c) { Role::Categorical(j) } else { Role::Numeric(j) };
        inferred.push(!named);
        if !named && roles[*c] == Role::Categorical(j) {
            notes.push(format!("{name}: not numbers, read as categorical"));
        }
    }
    Ok(Resolved {
        layout: Layout {
            roles,
            label: sel.label.clone(),
            names: features.into_iter().map(|(_, n)| n).collect(),
            inferred,
            max_categories: Some(MAX_INFERRED_CATEGORIES),
            schema: None,
        },
        label: sel.label.clone(),
        id: sel.id.clone(),
        time: sel.time.clone(),
        notes,
    })
}

fn of_schema(
    h: &Header<'_>,
    schema: &Arc<Schema>,
    labels: Need,
    id: Option<(&str, Need)>,
) -> Result<Resolved, DatasetError> {
    let mut roles = vec![Role::Skip; h.names.len()];
    let mut missing: Vec<&str> = Vec::new();
    for (j, f) in schema.features().iter().enumerate() {
        match h.find(&f.name)? {
            Some(c) => roles[c] = if f.is_categorical() { Role::Categorical(j) } else { Role::Numeric(j) },
            None => missing.push(&f.name),
        }
    }
    for (name, role, need) in
        [Some((schema.label.as_str(), Role::Label, labels)), id.map(|(n, need)| (n, Role::Id, need))]
            .into_iter()
            .flatten()
    {
        match h.find(name)? {
            Some(c) if roles[c] == Role::Skip => roles[c] = role,
            Some(_) => return Err(h.columns_error(format!("{name:?} is a feature of the model"))),
            None if need == Need::Required => missing.push(name),
            None => {}
        }
    }
    if !missing.is_empty() {
        let mut expected: Vec<&str> = schema.names().collect();
        if labels == Need::Required {
            expected.push(&schema.label);
        }
        return Err(h.missing(&missing, format!("expected columns {}", expected.join(","))));
    }
    Ok(Resolved {
        layout: Layout {
            roles,
            label: schema.label.clone(),
            names: schema.names().map(String::from).collect(),
            inferred: vec![false; schema.width()],
            max_categories: None,
            schema: Some(Arc::clone(schema)),
        },
        label: schema.label.clone(),
        id: id.map(|(n, _)| n.to_string()),
        time: schema.time.clone(),
        notes: Vec::new(),
    })
}

fn all(
    h: &Header<'_>,
    label: &str,
    exclude: &[String],
    looks_numeric: &dyn Fn(usize) -> bool,
) -> Result<Resolved, DatasetError> {
    let mut roles = vec![Role::Skip; h.names.len()];
    let mut names = Vec::new();
    for (c, name) in h.names.iter().enumerate() {
        if name == label || name.is_empty() || exclude.contains(name) {
            continue;
        }
        if h.find(name).is_err() {
            return Err(h.columns_error(format!("the header has two columns named {name:?}; exclude it or rename one")));
        }
        let j = names.len();
        roles[c] = if looks_numeric(c) { Role::Numeric(j) } else { Role::Categorical(j) };
        names.push(name.clone());
    }
    if names.is_empty() {
        return Err(h.columns_error("no column is left to send".into()));
    }
    let width = names.len();
    Ok(Resolved {
        layout: Layout {
            roles,
            label: label.to_string(),
            names,
            inferred: vec![true; width],
            max_categories: None,
            schema: None,
        },
        label: label.to_string(),
        id: None,
        time: None,
        notes: Vec::new(),
    })
}
