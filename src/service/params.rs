//! Request parameters of DALI services: from the query string and, for POST, an
//! `application/x-www-form-urlencoded` body; names are case-insensitive, values are not.

use std::collections::HashMap;

use axum::body::Bytes;

/// The parameters of a request, names upper-cased; the last value of a repeated name wins.
#[derive(Debug, Clone, Default)]
pub struct Params(pub HashMap<String, String>);

impl Params {
    /// Parameters from a query string and a form body.
    pub fn from_request(query: Option<&str>, body: &Bytes) -> Params {
        let mut map = HashMap::new();
        let sources = [query.unwrap_or("").as_bytes(), body.as_ref()];
        for source in sources {
            for (k, v) in form_urlencoded::parse(source) {
                map.insert(k.to_ascii_uppercase(), v.into_owned());
            }
        }
        Params(map)
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}
