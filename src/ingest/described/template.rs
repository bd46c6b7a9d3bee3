//! Templates of format descriptions: text with `{header.N}`, `{file.NAME}` and
//! `{key.NAME}` references, resolved per file.

use std::collections::HashMap;

use anyhow::{Result, bail};

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    /// The N-th value (0-based) of the header line.
    Header(usize),
    /// A named group of the file-name pattern, or `stem` / `name`.
    File(String),
    /// A `\KEY = value` (IPAC) or `# KEY = value` line of the file.
    Key(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Part>);

/// What a file offers to templates.
#[derive(Debug, Default)]
pub struct FileValues {
    /// Values of the header line.
    pub header: Vec<String>,
    /// File-name groups, with `stem` and `name`.
    pub file: HashMap<String, String>,
    /// Keyword lines.
    pub keys: HashMap<String, String>,
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('}') else {
                bail!("'{{' without '}}'");
            };
            let inner = &rest[open + 1..open + close];
            let part = match inner.split_once('.') {
                Some(("header", n)) => match n.parse() {
                    Ok(k) => Part::Header(k),
                    Err(_) => bail!("{{header.{n}}}: expected a number"),
                },
                Some(("file", g)) if !g.is_empty() => Part::File(g.to_string()),
                Some(("key", k)) if !k.is_empty() => Part::Key(k.to_string()),
                _ => bail!("{{{inner}}}: expected {{header.N}}, {{file.NAME}} or {{key.NAME}}"),
            };
            parts.push(part);
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template(parts))
    }

    /// The text, or the first reference the file does not give.
    pub fn resolve(&self, values: &FileValues) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Header(k) => match values.header.get(*k) {
                    Some(v) => out.push_str(v),
                    None if values.header.is_empty() => {
                        return Err("no header line (no comment line of the form the description's [header] says)".into());
                    }
                    None => {
                        return Err(format!(
                            "header value {k} absent (the header line has {} values)",
                            values.header.len()
                        ));
                    }
                },
                Part::File(g) => match values.file.get(g) {
                    Some(v) => out.push_str(v),
                    None => return Err(format!("the file name gives no '{g}'")),
                },
                Part::Key(k) => match values.keys.get(&k.to_ascii_uppercase()) {
                    Some(v) => out.push_str(v),
                    None => return Err(format!("no keyword line '{k}'")),
                },
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_header_file_and_key_references() {
        let t = Template::parse("{header.0}.{header.1}-{file.stem}/{key.object}").unwrap();
        let mut v = FileValues {
            header: vec!["1".into(), "3444".into()],
            ..FileValues::default()
        };
        v.file.insert("stem".into(), "lc".into());
        v.keys.insert("OBJECT".into(), "ob08092".into());
        assert_eq!(t.resolve(&v).unwrap(), "1.3444-lc/ob08092");
        v.header.pop();
        assert!(t.resolve(&v).unwrap_err().contains("header value 1"));
    }

    #[test]
    fn bad_templates_are_refused() {
        assert!(Template::parse("{header.x}").is_err());
        assert!(Template::parse("{star}").is_err());
        assert!(Template::parse("{file.stem").is_err());
        let plain = Template::parse("R").unwrap();
        assert_eq!(plain.resolve(&FileValues::default()).unwrap(), "R");
    }
}
