//! Templates for what an agent says and is told: `{{name}}` placeholders filled from a
//! call's variables (a lead's name, an appointment time…). A placeholder without a value
//! is an error at the moment the call is created, never a literal `{{name}}` spoken to
//! someone. Values are plain text: where the result goes into TwiML the builder escapes
//! it, so a value can never become markup or SSML.

use std::collections::{BTreeMap, BTreeSet};

/// Longest variable name, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest variable value, in characters.
pub const MAX_VALUE_CHARS: usize = 500;
/// Most variables one call may carry.
pub const MAX_VARIABLES: usize = 50;

/// Placeholders a template uses that the variables do not fill, in name order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("missing variable(s): {}", .0.join(", "))]
pub struct MissingVariables(pub Vec<String>);

/// Whether `name` may name a variable: letters, digits, `_`, `-`, `.`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Checks a call's variables: at most [`MAX_VARIABLES`], valid names, values of at most
/// [`MAX_VALUE_CHARS`] characters without control characters. The error names the first
/// variable refused.
pub fn check_variables(vars: &BTreeMap<String, String>) -> Result<(), String> {
    if vars.len() > MAX_VARIABLES {
        return Err(format!("at most {MAX_VARIABLES} variables"));
    }
    for (name, value) in vars {
        if !valid_name(name) {
            return Err(format!(
                "variable name {:?}: letters, digits, '_', '-' and '.', at most {MAX_NAME_LEN}",
                name.chars().take(80).collect::<String>()
            ));
        }
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(format!(
                "variable {name}: at most {MAX_VALUE_CHARS} characters"
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(format!(
                "variable {name}: control characters are not allowed"
            ));
        }
    }
    Ok(())
}

/// One piece of a parsed template.
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// `template` cut into text and placeholders. `{{ name }}` (spaces allowed inside) is a
/// placeholder when `name` is a [valid name](valid_name); anything else, an unclosed
/// `{{` included, is text.
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        let name = after[..close].trim();
        if valid_name(name) {
            out.push(Piece::Text(&rest[..open]));
            out.push(Piece::Var(name));
            rest = &after[close + 2..];
        } else {
            out.push(Piece::Text(&rest[..open + 2]));
            rest = after;
        }
    }
    out.push(Piece::Text(rest));
    out
}

/// The variable names `template` uses.
pub fn placeholders(template: &str) -> BTreeSet<String> {
    pieces(template)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(name) => Some(name.to_owned()),
            Piece::Text(_) => None,
        })
        .collect()
}

/// `template` with every placeholder replaced by its value; the names without one are
/// the error.
pub fn render(template: &str, vars: &BTreeMap<String, String>) -> Result<String, MissingVariables> {
    let mut out = String::with_capacity(template.len());
    let mut missing = BTreeSet::new();
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) => match vars.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    missing.insert(name.to_owned());
                }
            },
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(MissingVariables(missing.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn placeholders_are_filled_and_spaces_inside_braces_allowed() {
        let t = "Hi {{name}}, your visit is at {{ time }}. Bye {{name}}!";
        let out = render(t, &vars(&[("name", "Ada"), ("time", "3 pm")])).expect("render");
        assert_eq!(out, "Hi Ada, your visit is at 3 pm. Bye Ada!");
        assert_eq!(
            placeholders(t).into_iter().collect::<Vec<_>>(),
            vec!["name", "time"]
        );
    }

    #[test]
    fn every_missing_variable_is_named_once() {
        let err = render("{{b}} {{a}} {{b}}", &vars(&[])).expect_err("missing");
        assert_eq!(err, MissingVariables(vec!["a".into(), "b".into()]));
        assert_eq!(err.to_string(), "missing variable(s): a, b");
    }

    #[test]
    fn text_that_is_not_a_placeholder_stays_as_written() {
        for t in ["{{", "a {{ b", "{{not a name!}}", "{}", "{{}}", "}} {{x"] {
            assert_eq!(render(t, &vars(&[])).as_deref(), Ok(t), "{t:?}");
        }
        assert_eq!(
            render("{{{x}}}", &vars(&[("x", "1")])).as_deref(),
            Ok("{{{x}}}"),
            "the first {{{{ opens a non-name"
        );
    }

    #[test]
    fn values_are_inserted_verbatim_never_expanded_again() {
        let out = render("{{a}}", &vars(&[("a", "{{b}} <break/> & \"")])).expect("render");
        assert_eq!(out, "{{b}} <break/> & \"");
    }

    #[test]
    fn variables_are_checked() {
        assert!(check_variables(&vars(&[("first_name", "Ada"), ("appt.time", "3")])).is_ok());
        for bad in [
            vars(&[("", "x")]),
            vars(&[("a b", "x")]),
            vars(&[("a", "x\ny")]),
        ] {
            assert!(check_variables(&bad).is_err(), "{bad:?}");
        }
        let long = "x".repeat(MAX_VALUE_CHARS + 1);
        assert!(check_variables(&vars(&[("a", &long)])).is_err());
    }
}
