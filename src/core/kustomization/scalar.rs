//! Writing a value so that YAML reads it back as that same string: plain where that is safe,
//! quoted where a plain scalar would resolve to null, a boolean or a number, and in the quoting
//! style an existing value already uses.

use saphyr_parser::ScalarStyle;

/// The source text for `value` in `style`: plain text is quoted where it would not read back as
/// a string; quotes are escaped inside quoted styles.
pub(super) fn in_style(style: ScalarStyle, value: &str) -> String {
    match style {
        ScalarStyle::Plain => plain_or_quoted(value),
        ScalarStyle::SingleQuoted => format!("'{}'", value.replace('\'', "''")),
        ScalarStyle::DoubleQuoted => double_quoted(value),
        // The planner only rewrites one-line values, where these styles do not occur.
        ScalarStyle::Literal | ScalarStyle::Folded => value.to_owned(),
    }
}

/// Writes a value plain unless YAML would read it back as something other than that string.
pub(super) fn plain_or_quoted(value: &str) -> String {
    if needs_quotes(value) {
        double_quoted(value)
    } else {
        value.to_owned()
    }
}

fn double_quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// True when a plain scalar would not read back as this string: it resolves to null, a boolean,
/// a number or infinity under YAML 1.1 or 1.2 (kustomize's Go YAML reads 1.1 booleans such as
/// `yes` and `on`), or holds characters that end or change a plain scalar.
pub(super) fn needs_quotes(value: &str) -> bool {
    plain_reading(value).is_some() || !plain_safe(value)
}

/// What YAML reads this text as, written plain, when not as a string: `"null"`, `"a boolean"`
/// or `"a number"` (under YAML 1.1 or 1.2, as for [`needs_quotes`]).
pub(super) fn plain_reading(value: &str) -> Option<&'static str> {
    const NULLS: [&str; 5] = ["", "~", "null", "Null", "NULL"];
    const BOOLEANS: [&str; 22] = [
        "true", "True", "TRUE", "false", "False", "FALSE", "y", "Y", "yes", "Yes", "YES", "n", "N",
        "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
    ];
    const SPECIAL_FLOATS: [&str; 12] = [
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN",
    ];
    if NULLS.contains(&value) {
        Some("null")
    } else if BOOLEANS.contains(&value) {
        Some("a boolean")
    } else if SPECIAL_FLOATS.contains(&value) || looks_numeric(value) {
        Some("a number")
    } else {
        None
    }
}

/// Whether every character can stand in a plain scalar anywhere: letters, digits and the
/// punctuation image tags, names and digests use, not starting with an indicator.
fn plain_safe(value: &str) -> bool {
    let first_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '+'));
    first_ok
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@' | '+')
        })
}

fn looks_numeric(value: &str) -> bool {
    let v = value.strip_prefix(['+', '-']).unwrap_or(value);
    for prefix in ["0x", "0o", "0b"] {
        if let Some(digits) = v.strip_prefix(prefix) {
            return !digits.is_empty() && digits.chars().all(|c| c.is_ascii_hexdigit() || c == '_');
        }
    }
    let (mantissa, exponent) = match v.find(['e', 'E']) {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    let mantissa_ok = mantissa.chars().any(|c| c.is_ascii_digit())
        && mantissa
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '_');
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use serde_norway::Value;

    use super::*;

    /// Whatever the value, the text written for it reads back (with libyaml, as kustomize's
    /// parser would) as that very string, in every style.
    #[test]
    fn every_written_value_reads_back_as_the_same_string() {
        let values = [
            "v1",
            "sha-1a2b3c4",
            "1.2.3-rc1",
            "latest",
            "1a",
            "e3",
            "1.10",
            "123",
            "1e3",
            "0x1F",
            "0o17",
            "0b101",
            "1_000",
            "-1",
            "+1",
            ".5",
            "yes",
            "on",
            "Off",
            "null",
            "~",
            "",
            ".inf",
            "-.Inf",
            ".NaN",
            "it's",
            "say \"hi\"",
            "a\\b",
            "a: b",
            "a #b",
            "- x",
            "@x",
            "`x",
            "*x",
            "&x",
            "!x",
            "%x",
            "[x]",
            "{x}",
            "x,y",
            "|",
            ">",
            "?",
            "'",
            "\"",
            "sha256:0123456789abcdef",
        ];
        for value in values {
            for style in [
                ScalarStyle::Plain,
                ScalarStyle::SingleQuoted,
                ScalarStyle::DoubleQuoted,
            ] {
                let text = format!("k: {}\n", in_style(style, value));
                let doc: Value = serde_norway::from_str(&text).expect(&text);
                assert_eq!(
                    doc.get("k"),
                    Some(&Value::String(value.to_owned())),
                    "{style:?}: {text}"
                );
            }
        }
    }

    /// Image tags and digests as registries write them stay plain, as a person would write them.
    #[test]
    fn ordinary_tags_stay_plain() {
        for value in [
            "v1",
            "sha-1a2b3c4",
            "1.2.3-rc1",
            "latest",
            "1a",
            "e3",
            "2024.01.15-build_7",
            "sha256:0123456789abcdef",
        ] {
            assert_eq!(plain_or_quoted(value), value);
        }
        assert_eq!(plain_or_quoted("1.10"), "\"1.10\"");
    }
}
