//! Text from inputs shown on a terminal: control characters escaped (`\u{1b}`), so that a
//! rejected line or cell never reaches a terminal as escape sequences (clearing the
//! screen, setting its title, hiding what follows).

/// `s` with its control characters escaped.
pub fn escaped_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
