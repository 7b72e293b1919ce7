//! Graph's `fields` parameter: a comma list where an edge may carry modifiers and nested
//! fields, e.g. `messages.limit(10){id,created_time,from},participants`.

/// One requested field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub name: String,
    /// From `.limit(N)`.
    pub limit: Option<usize>,
    /// From `{...}`; `None` when the field was asked for bare.
    pub nested: Option<Vec<Field>>,
}

/// Parses a `fields` value; `Err` names where the syntax broke, like Graph's code 2500.
pub(crate) fn parse_fields(raw: &str) -> Result<Vec<Field>, String> {
    let mut fields = Vec::new();
    for part in split_top_level(raw)? {
        if part.trim().is_empty() {
            continue;
        }
        fields.push(parse_one(part.trim())?);
    }
    Ok(fields)
}

/// Splits at commas outside braces and parentheses.
fn split_top_level(raw: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in raw.char_indices() {
        match c {
            '{' | '(' => depth += 1,
            '}' | ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(syntax(raw, i));
                }
            }
            ',' if depth == 0 => {
                parts.push(&raw[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(syntax(raw, raw.len()));
    }
    parts.push(&raw[start..]);
    Ok(parts)
}

fn parse_one(part: &str) -> Result<Field, String> {
    let (head, nested) = match part.find('{') {
        Some(open) if part.ends_with('}') => (
            &part[..open],
            Some(parse_fields(&part[open + 1..part.len() - 1])?),
        ),
        Some(open) => return Err(syntax(part, open)),
        None => (part, None),
    };
    let mut pieces = head.split('.');
    let name = pieces.next().unwrap_or_default().trim().to_owned();
    let mut limit = None;
    for modifier in pieces {
        let value = modifier
            .strip_prefix("limit(")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|n| n.trim().parse::<usize>().ok());
        match value {
            Some(n) => limit = Some(n),
            None => return Err(syntax(part, 0)),
        }
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(syntax(part, 0));
    }
    Ok(Field {
        name,
        limit,
        nested,
    })
}

fn syntax(raw: &str, at: usize) -> String {
    format!("Syntax error at character {at}: {raw}")
}

/// The first field not in `permitted`, if any: Graph fails the whole request on it.
pub(crate) fn first_unknown<'a>(fields: &'a [Field], permitted: &[&str]) -> Option<&'a str> {
    fields
        .iter()
        .map(|f| f.name.as_str())
        .find(|name| !permitted.contains(name))
}

/// The fields written back in Graph's syntax, for the `fields` of a `next` link.
pub(crate) fn render_fields(fields: &[Field]) -> String {
    fields
        .iter()
        .map(|f| {
            let mut out = f.name.clone();
            if let Some(n) = f.limit {
                out.push_str(&format!(".limit({n})"));
            }
            if let Some(nested) = &f.nested {
                out.push('{');
                out.push_str(&render_fields(nested));
                out.push('}');
            }
            out
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_fields_and_limits_parse() {
        let fields = parse_fields("messages.limit(5){id,from},participants").unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].name, "messages");
        assert_eq!(fields[0].limit, Some(5));
        let nested = fields[0].nested.as_ref().unwrap();
        assert_eq!(nested[1].name, "from");
        assert_eq!(fields[1].nested, None);
        assert_eq!(
            render_fields(&fields),
            "messages.limit(5){id,from},participants"
        );
    }

    #[test]
    fn broken_syntax_is_refused() {
        assert!(parse_fields("messages{id").is_err());
        assert!(parse_fields("messages}").is_err());
        assert!(parse_fields("messages.limitless").is_err());
    }

    #[test]
    fn unknown_fields_are_named() {
        let fields = parse_fields("id,name,locale").unwrap();
        assert_eq!(first_unknown(&fields, &["id", "name"]), Some("locale"));
    }
}
