//! Parsing of FITS header cards (80-column records), as defined in FITS 4.0 section 4.
//!
//! Shared by the catalogue ingest (which stores every card of an image header) and by
//! the WCS parser, so that one grammar decides what a keyword's value is.

use std::fmt;

/// The value of a header card, typed as FITS 4.0 section 4.2 defines it.
#[derive(Debug, Clone, PartialEq)]
pub enum CardValue {
    /// A quoted character string, with doubled quotes undone and trailing blanks removed.
    Text(String),
    /// `T` or `F`.
    Logical(bool),
    /// An integer, kept as `i64`.
    Integer(i64),
    /// A real number (Fortran `D` exponents accepted).
    Real(f64),
    /// A complex or otherwise unparsed value, kept as written.
    Other(String),
    /// A keyword with no value (commentary cards, or a value indicator with blanks).
    Undefined,
}

impl CardValue {
    /// The value as a float, when it is numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            CardValue::Real(v) => Some(*v),
            CardValue::Integer(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// The value as text, when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            CardValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for CardValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardValue::Text(s) => write!(f, "{s}"),
            CardValue::Logical(b) => write!(f, "{}", if *b { "T" } else { "F" }),
            CardValue::Integer(v) => write!(f, "{v}"),
            CardValue::Real(v) => write!(f, "{v}"),
            CardValue::Other(s) => write!(f, "{s}"),
            CardValue::Undefined => Ok(()),
        }
    }
}

/// One header card: keyword, value and comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// The keyword, upper case, without trailing blanks (`HIERARCH` keywords keep their words).
    pub keyword: String,
    /// The typed value.
    pub value: CardValue,
    /// The comment after the `/`, or the text of a commentary card.
    pub comment: String,
    /// The card as written (at most 80 characters, trailing blanks removed), for copying
    /// a header without rewriting its values.
    pub record: String,
}

/// Parses one card (up to 80 characters; shorter lines are accepted as if blank-padded).
///
/// Returns `None` for blank cards. Never fails: a value that does not parse is kept as
/// [`CardValue::Other`] so that the caller can name the keyword in its own error.
pub fn parse_card(record: &str) -> Option<Card> {
    let record = record.trim_end_matches(['\r', '\n']);
    if record.trim().is_empty() {
        return None;
    }
    let head: String = record.chars().take(8).collect();
    let keyword = head.trim_end().to_ascii_uppercase();
    let rest: String = record.chars().skip(8).collect();
    if keyword == "HIERARCH" {
        // ESO convention: HIERARCH A B C = value / comment
        if let Some(eq) = rest.find('=') {
            let name = format!("HIERARCH {}", rest[..eq].trim());
            let (value, comment) = parse_value_and_comment(&rest[eq + 1..]);
            return Some(Card {
                keyword: name,
                value,
                comment,
                record: record.trim_end().to_string(),
            });
        }
    }
    if rest.starts_with("= ") || rest == "=" {
        let (value, comment) = parse_value_and_comment(&rest[1..]);
        Some(Card {
            keyword,
            value,
            comment,
            record: record.trim_end().to_string(),
        })
    } else {
        Some(Card {
            keyword,
            value: CardValue::Undefined,
            comment: rest.trim_end().to_string(),
            record: record.trim_end().to_string(),
        })
    }
}

/// Splits the value field (after `=`) into a typed value and a comment.
fn parse_value_and_comment(field: &str) -> (CardValue, String) {
    let trimmed = field.trim_start();
    if let Some(after_quote) = trimmed.strip_prefix('\'') {
        // A string: '' inside is a literal quote; the closing quote is a lone '.
        let mut text = String::new();
        let mut chars = after_quote.char_indices().peekable();
        let mut end = after_quote.len();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if matches!(chars.peek(), Some((_, '\''))) {
                    text.push('\'');
                    chars.next();
                } else {
                    end = i + 1;
                    break;
                }
            } else {
                text.push(c);
            }
        }
        let after = &after_quote[end.min(after_quote.len())..];
        let comment = after
            .trim_start()
            .strip_prefix('/')
            .map(|c| c.trim().to_string())
            .unwrap_or_default();
        return (CardValue::Text(text.trim_end().to_string()), comment);
    }
    let (raw, comment) = match trimmed.find('/') {
        Some(i) => (&trimmed[..i], trimmed[i + 1..].trim().to_string()),
        None => (trimmed, String::new()),
    };
    let raw = raw.trim();
    let value = if raw.is_empty() {
        CardValue::Undefined
    } else if raw == "T" {
        CardValue::Logical(true)
    } else if raw == "F" {
        CardValue::Logical(false)
    } else if let Ok(i) = raw.parse::<i64>() {
        CardValue::Integer(i)
    } else if let Ok(f) = raw.replace(['D', 'd'], "E").parse::<f64>() {
        CardValue::Real(f)
    } else {
        CardValue::Other(raw.to_string())
    };
    (value, comment)
}

/// Parses header text: either newline-separated cards or one string of concatenated
/// 80-character records (as read from a FITS file). Stops at `END`.
pub fn parse_header_text(text: &str) -> Vec<Card> {
    let records: Vec<String> = if text.contains('\n') {
        text.lines().map(str::to_string).collect()
    } else {
        text.chars()
            .collect::<Vec<_>>()
            .chunks(80)
            .map(|c| c.iter().collect())
            .collect()
    };
    let mut cards = Vec::new();
    for record in records {
        match parse_card(&record) {
            Some(card) if card.keyword == "END" => break,
            Some(card) => cards.push(card),
            None => {}
        }
    }
    cards
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_typed_values_and_comments() {
        let c = parse_card("CRVAL1  =        280.544106813 / RA  of reference point").unwrap();
        assert_eq!(c.keyword, "CRVAL1");
        assert_eq!(c.value, CardValue::Real(280.544106813));
        assert_eq!(c.comment, "RA  of reference point");
        let c = parse_card("CTYPE1  = 'RA---TAN-SIP'       / TAN (gnomic)").unwrap();
        assert_eq!(c.value.as_str(), Some("RA---TAN-SIP"));
        let c = parse_card("NAXIS1  =                  100 / length").unwrap();
        assert_eq!(c.value, CardValue::Integer(100));
        let c = parse_card("SIMPLE  =                    T").unwrap();
        assert_eq!(c.value, CardValue::Logical(true));
        let c = parse_card("OBSERVER= 'O''Hara  '").unwrap();
        assert_eq!(c.value.as_str(), Some("O'Hara"));
        let c = parse_card("CDELT1  =  -6.666666666667D-02").unwrap();
        assert_eq!(c.value.as_f64(), Some(-6.666666666667e-2));
        let c = parse_card("HISTORY Updated keyword OBSERVER").unwrap();
        assert_eq!(c.value, CardValue::Undefined);
        assert_eq!(c.comment, "Updated keyword OBSERVER");
        let c = parse_card("HIERARCH ESO TEL TARG EQUINOX=     2000.000 / Equinox").unwrap();
        assert_eq!(c.keyword, "HIERARCH ESO TEL TARG EQUINOX");
        assert_eq!(c.value.as_f64(), Some(2000.0));
        assert!(parse_card("   ").is_none());
    }

    #[test]
    fn header_text_stops_at_end() {
        let text = format!(
            "{:<80}{:<80}{:<80}",
            "NAXIS   =                    2", "END", "JUNK    = 1"
        );
        let cards = parse_header_text(&text);
        assert_eq!(cards.len(), 1);
        assert_eq!(cards[0].keyword, "NAXIS");
    }
}
