//! The rules every input shares: what counts as unset, how lists split, which booleans the
//! Actions toolkit accepts.

use super::{ConfigError, invalid};

/// A value that was given: trimmed, and not empty.
pub(super) fn given(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// [`list`], refusing a value that names nothing (such as `" , "`): a run that promotes no
/// image, or edits no path, would succeed without doing what was asked.
pub(super) fn nonempty_list(input: &'static str, s: &str) -> Result<Vec<String>, ConfigError> {
    let values = list(s);
    if values.is_empty() {
        return Err(invalid(
            input,
            format!("`{s}` names nothing: give comma or newline separated values"),
        ));
    }
    Ok(values)
}

/// Comma- or newline-separated values, trimmed, empty ones dropped.
pub(super) fn list(s: &str) -> Vec<String> {
    s.split([',', '\n'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The booleans the Actions toolkit accepts (`getBooleanInput`).
pub(super) fn boolean(
    input: &'static str,
    value: Option<String>,
    default: bool,
) -> Result<bool, ConfigError> {
    match value.as_deref() {
        None => Ok(default),
        Some("true" | "True" | "TRUE") => Ok(true),
        Some("false" | "False" | "FALSE") => Ok(false),
        Some(other) => Err(invalid(
            input,
            format!("`{other}` is not a boolean: use true or false"),
        )),
    }
}
