//! `${VAR}` and `${VAR:-default}` in the file's text, as Docker Compose does it, so a
//! file can name secrets without holding them. Substitution is textual, line by line,
//! before YAML parsing (so `${PORT:-8080}` is still a number), except that a value put
//! inside a quoted scalar is escaped for that quoting: a token with a `"` or `\` in it
//! cannot break out of `"${TOKEN}"`. Comments are left alone. `$$` is a literal `$`.

use crate::ConfigError;

/// The text with every placeholder replaced. `env` answers a variable's value.
pub fn interpolate(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        interpolate_line(line, index + 1, env, &mut out)?;
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq)]
enum Quote {
    None,
    Single,
    Double,
}

fn interpolate_line(
    line: &str,
    number: usize,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut String,
) -> Result<(), ConfigError> {
    let mut quote = Quote::None;
    let mut rest = line;
    let mut previous: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        match (c, quote) {
            ('#', Quote::None) if previous.is_none_or(char::is_whitespace) => {
                out.push_str(rest);
                return Ok(());
            }
            ('$', _) if rest.starts_with("$$") => {
                out.push('$');
                rest = &rest[2..];
                previous = Some('$');
                continue;
            }
            ('$', _) if rest.starts_with("${") => {
                let end = rest.find('}').ok_or_else(|| ConfigError::Placeholder {
                    line: number,
                    message: "\"${\" without a closing \"}\"".into(),
                })?;
                let value = resolve(&rest[2..end], number, env)?;
                escape_into(&value, quote, out);
                rest = &rest[end + 1..];
                previous = Some('}');
                continue;
            }
            ('"', Quote::None) => quote = Quote::Double,
            ('"', Quote::Double) if previous != Some('\\') => quote = Quote::None,
            ('\'', Quote::None) => quote = Quote::Single,
            ('\'', Quote::Single) => quote = Quote::None,
            _ => {}
        }
        out.push(c);
        previous = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(())
}

/// `NAME` or `NAME:-default`: the default applies when the variable is unset or empty.
fn resolve(
    inner: &str,
    line: usize,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let (name, default) = match inner.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (inner, None),
    };
    let valid = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if !valid {
        return Err(ConfigError::Placeholder {
            line,
            message: format!("\"${{{inner}}}\" is not ${{NAME}} or ${{NAME:-default}}"),
        });
    }
    match (env(name).filter(|v| !v.is_empty()), default) {
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(ConfigError::Unset {
            variable: name.to_owned(),
            line,
        }),
    }
}

fn escape_into(value: &str, quote: Quote, out: &mut String) {
    for c in value.chars() {
        match (quote, c) {
            (Quote::Double, '"' | '\\') => {
                out.push('\\');
                out.push(c);
            }
            (Quote::Double, '\n') => out.push_str("\\n"),
            (Quote::Single, '\'') => out.push_str("''"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "TOKEN" => Some("s3cr\"et\\x".into()),
            "PORT" => Some("8080".into()),
            "EMPTY" => Some(String::new()),
            "QUOTE" => Some("it's".into()),
            _ => None,
        }
    }

    fn run(text: &str) -> Result<String, ConfigError> {
        interpolate(text, &env)
    }

    #[test]
    fn variables_defaults_and_literal_dollars() {
        assert_eq!(run("port: ${PORT}\n").expect("ok"), "port: 8080\n");
        assert_eq!(run("a: ${NOPE:-x y}\n").expect("ok"), "a: x y\n");
        assert_eq!(run("a: ${EMPTY:-fallback}\n").expect("ok"), "a: fallback\n");
        assert_eq!(run("price: $$5 ${PORT}\n").expect("ok"), "price: $5 8080\n");
    }

    #[test]
    fn values_are_escaped_for_the_quotes_they_land_in() {
        assert_eq!(
            run("t: \"${TOKEN}\"\n").expect("ok"),
            "t: \"s3cr\\\"et\\\\x\"\n"
        );
        assert_eq!(run("t: '${QUOTE}'\n").expect("ok"), "t: 'it''s'\n");
    }

    #[test]
    fn an_unset_variable_names_itself_and_its_line() {
        let err = run("a: 1\n\nb: ${MISSING}\n").expect_err("unset");
        assert_eq!(
            err.to_string(),
            "line 3: ${MISSING} is not set and has no default"
        );
    }

    #[test]
    fn comments_are_not_interpolated() {
        assert_eq!(
            run("# uses ${MISSING}\na: 1 # ${MISSING}\n").expect("ok"),
            "# uses ${MISSING}\na: 1 # ${MISSING}\n"
        );
        assert_eq!(
            run("a: \"x # ${PORT}\"\n").expect("ok"),
            "a: \"x # 8080\"\n"
        );
    }

    #[test]
    fn malformed_placeholders_are_errors_with_their_line() {
        let err = run("a: ${PORT\n").expect_err("open");
        assert!(err.to_string().starts_with("line 1:"), "{err}");
        let err = run("\na: ${1BAD}\n").expect_err("bad name");
        assert!(err.to_string().starts_with("line 2:"), "{err}");
    }
}
