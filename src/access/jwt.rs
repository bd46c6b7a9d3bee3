//! Bearer tokens issued by an OpenID Connect / OAuth 2 provider (JSON Web Tokens, RFC
//! 7519), checked against the provider's public keys (a JWKS file, RFC 7517): the
//! signature (RS256 or ES256 only: no `none`, no shared-secret HMAC, whose key a JWKS
//! would have to publish), the issuer, the audience, the expiry and the not-before time.
//! The caller is then the user the token names, in the groups its groups claim lists.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;

use super::identity::Identity;

/// The longest token read (a provider's tokens are a few kilobytes).
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// The clock difference tolerated between the provider and the service, in seconds.
const LEEWAY_S: i64 = 60;

/// Why a token whose signature none of the keys verifies is refused.
const UNKNOWN_KEY: &str = "the token's signature is not one of the provider's keys";
/// Why a token signed by a key id the keys lack is refused (the provider may have rotated
/// its keys since they were read).
pub const UNKNOWN_KEY_ID: &str = "the token's signature is by a key id the provider's keys lack";

/// What a token must say to be accepted, and where its user and groups are.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// The provider (`iss`).
    pub issuer: String,
    /// This service (`aud`, or one of them).
    pub audience: String,
    /// The claim naming the user (`preferred_username`; `sub` when it is absent).
    pub user_claim: String,
    /// The claim listing the groups (`groups`).
    pub groups_claim: String,
}

/// The provider's signing keys.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

#[derive(Debug, Clone)]
struct Key {
    kid: Option<String>,
    public: Public,
}

#[derive(Debug, Clone)]
enum Public {
    /// RS256: modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// ES256: the uncompressed point (0x04, x, y).
    P256(Vec<u8>),
}

impl Public {
    fn algorithm(&self) -> &'static str {
        match self {
            Public::Rsa { .. } => "RS256",
            Public::P256(_) => "ES256",
        }
    }
}

fn base64url(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}

impl KeySet {
    /// The signing keys of a JWKS document (`{"keys": [...]}`): RSA keys and P-256 EC keys
    /// meant for signatures; others (encryption keys, other curves) are left out. An error
    /// when none is left.
    pub fn parse(text: &str) -> Result<KeySet> {
        let doc: Value = serde_json::from_str(text).context("not JSON")?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .context("no \"keys\" array")?;
        let mut out = Vec::new();
        for k in keys {
            let field = |name: &str| k.get(name).and_then(Value::as_str);
            if field("use").is_some_and(|u| u != "sig") {
                continue;
            }
            let bytes = |name: &str| field(name).and_then(base64url);
            let public = match (field("kty"), field("alg")) {
                // A key this service cannot read is left out, not the whole set: the
                // provider's other keys still sign.
                (Some("RSA"), None | Some("RS256")) => match (bytes("n"), bytes("e")) {
                    (Some(n), Some(e)) => Public::Rsa { n, e },
                    _ => continue,
                },
                (Some("EC"), None | Some("ES256")) if field("crv") == Some("P-256") => {
                    match (bytes("x"), bytes("y")) {
                        (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                            let mut point = vec![4u8];
                            point.extend(x);
                            point.extend(y);
                            Public::P256(point)
                        }
                        _ => continue,
                    }
                }
                _ => continue,
            };
            out.push(Key {
                kid: field("kid").map(str::to_string),
                public,
            });
        }
        if out.is_empty() {
            bail!("no RS256 or ES256 signing key");
        }
        Ok(KeySet { keys: out })
    }

    /// How many keys the set has.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The identity `token` gives at `now` (Unix seconds), or why it is refused (a
    /// sentence that quotes nothing of the token).
    pub fn identity(
        &self,
        token: &str,
        expected: &Expected,
        now: i64,
    ) -> std::result::Result<Identity, &'static str> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err("the token is too long");
        }
        let mut parts = token.split('.');
        let (Some(head), Some(body), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("the token is not a JSON Web Token");
        };
        let json = |part: &str| {
            base64url(part)
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .filter(Value::is_object)
        };
        let (Some(header), Some(claims), Some(sig)) = (json(head), json(body), base64url(sig))
        else {
            return Err("the token is not a JSON Web Token");
        };
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        if alg != "RS256" && alg != "ES256" {
            return Err("the token's algorithm is not RS256 or ES256");
        }
        if header.get("crit").is_some() {
            return Err("the token has critical header parameters");
        }
        let kid = header.get("kid").and_then(Value::as_str);
        if kid.is_some() && self.keys.iter().all(|k| k.kid.as_deref() != kid) {
            return Err(UNKNOWN_KEY_ID);
        }
        let signed = &token.as_bytes()[..head.len() + 1 + body.len()];
        let verified = self
            .keys
            .iter()
            .filter(|k| k.public.algorithm() == alg)
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
            .any(|k| match &k.public {
                Public::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                    .verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed, &sig)
                    .is_ok(),
                Public::P256(point) => {
                    UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                        .verify(signed, &sig)
                        .is_ok()
                }
            });
        if !verified {
            return Err(UNKNOWN_KEY);
        }
        check_claims(&claims, expected, now)
    }
}

/// The identity of verified claims, when they are for this service now.
fn check_claims(
    claims: &Value,
    expected: &Expected,
    now: i64,
) -> std::result::Result<Identity, &'static str> {
    let time = |name: &str| claims.get(name).and_then(Value::as_f64);
    match time("exp") {
        Some(exp) if (now as f64) < exp + LEEWAY_S as f64 => {}
        Some(_) => return Err("the token has expired"),
        None => return Err("the token has no expiry"),
    }
    if time("nbf").is_some_and(|nbf| (now as f64) + (LEEWAY_S as f64) < nbf) {
        return Err("the token is not valid yet");
    }
    if claims.get("iss").and_then(Value::as_str) != Some(expected.issuer.as_str()) {
        return Err("the token is from another issuer");
    }
    let audience = match claims.get("aud") {
        Some(Value::String(a)) => a == &expected.audience,
        Some(Value::Array(list)) => list
            .iter()
            .any(|a| a.as_str() == Some(expected.audience.as_str())),
        _ => false,
    };
    if !audience {
        return Err("the token is for another audience");
    }
    let user = claims
        .get(&expected.user_claim)
        .or_else(|| claims.get("sub"))
        .and_then(Value::as_str)
        .filter(|u| (1..=128).contains(&u.len()) && u.bytes().all(|b| (0x21..0x7f).contains(&b)))
        .ok_or("the token names no user (printable ASCII, 128 characters at most)")?;
    let groups: Vec<String> = claims
        .get(&expected.groups_claim)
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                // Keycloak writes groups as paths (`/eros`).
                .map(|g| g.trim_start_matches('/').to_string())
                .filter(|g| !g.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(Identity::provider_user(user, &groups))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    /// A P-256 key pair and its JWKS document (kid `k1`).
    pub(crate) fn es256_key() -> (EcdsaKeyPair, String) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwks = format!(
            r#"{{"keys":[{{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}},{{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","x":"{}","y":"{}"}}]}}"#,
            b64(&point[1..33]),
            b64(&point[33..65])
        );
        (pair, jwks)
    }

    /// A token with `header` and `claims`, signed by `pair`.
    pub(crate) fn sign(pair: &EcdsaKeyPair, header: &str, claims: &str) -> String {
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let sig = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", b64(sig.as_ref()))
    }

    fn expected() -> Expected {
        Expected {
            issuer: "https://sso.example.org".into(),
            audience: "skyql".into(),
            user_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_signed_token_for_this_service_names_its_user_and_groups() {
        let (pair, jwks) = es256_key();
        let keys = KeySet::parse(&jwks).unwrap();
        assert_eq!(keys.len(), 1, "the encryption key is left out");
        let header = r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#;
        let claims = |extra: &str| {
            format!(
                r#"{{"iss":"https://sso.example.org","aud":["other","skyql"],"sub":"u-123","preferred_username":"carol","groups":["/eros","lmc"],"exp":{}{extra}}}"#,
                NOW + 300
            )
        };
        let good = sign(&pair, header, &claims(""));
        let id = keys.identity(&good, &expected(), NOW).unwrap();
        assert_eq!(
            id,
            Identity::provider_user("carol", &["eros".into(), "lmc".into()])
        );
        // Refusals: time, issuer, audience, tampering, algorithms, keys.
        let refused = |token: &str, now: i64| keys.identity(token, &expected(), now).unwrap_err();
        assert_eq!(refused(&good, NOW + 400), "the token has expired");
        let later = sign(&pair, header, &claims(&format!(r#","nbf":{}"#, NOW + 200)));
        assert_eq!(refused(&later, NOW), "the token is not valid yet");
        for (from, to, why) in [
            ("sso.example.org", "evil.example.org", "another issuer"),
            (r#"["other","skyql"]"#, r#""other""#, "another audience"),
        ] {
            let token = sign(&pair, header, &claims("").replace(from, to));
            assert!(refused(&token, NOW).contains(why), "{why}");
        }
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(claims("").replace("lmc", "all").as_bytes());
        parts[1] = &forged;
        assert!(refused(&parts.join("."), NOW).contains("signature"));
        let none = format!(
            "{}.{}.",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            parts[1]
        );
        assert!(refused(&none, NOW).contains("algorithm"));
        let other_kid = sign(&pair, r#"{"alg":"ES256","kid":"k2"}"#, &claims(""));
        assert!(refused(&other_kid, NOW).contains("signature"));
        // A key id the keys lack is said apart (the service fetches the keys again).
        assert_eq!(refused(&other_kid, NOW), UNKNOWN_KEY_ID);
        let (stranger, _) = es256_key();
        assert!(refused(&sign(&stranger, header, &claims("")), NOW).contains("signature"));
        assert_eq!(
            refused(&sign(&stranger, header, &claims("")), NOW),
            UNKNOWN_KEY
        );
        assert!(refused("skyql_abc", NOW).contains("not a JSON Web Token"));
        let no_exp = sign(&pair, header, &claims("").replace(r#","exp""#, r#","exq""#));
        assert_eq!(refused(&no_exp, NOW), "the token has no expiry");
    }

    #[test]
    fn a_key_set_without_signing_keys_is_refused() {
        assert!(KeySet::parse(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).is_err());
        assert!(KeySet::parse("[]").is_err());
    }
}
