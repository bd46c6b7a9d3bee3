//! The web page at `/` as the service serves it: the page, its script and style compiled
//! in, each with a Content-Security-Policy that allows only the service's own resources;
//! the script never writes HTML from values (CI drives it in chromium:
//! tests/validation/check_portal.py).

mod common;

use common::server::{Server, served_catalog};

#[test]
fn the_page_and_its_assets_come_with_their_policy() {
    let (_tmp, cat) = served_catalog();
    let server = Server::start(&cat, None);
    let (status, head, page) = server.get("/");
    assert_eq!(status, 200);
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(
        page.contains(r#"<meta name="skyql-schema" content="eros2">"#),
        "{page}"
    );
    assert!(page.contains("<title>EROS-2 catalogue</title>"), "{page}");
    assert!(!page.contains("{{"), "a placeholder left: {page}");
    // Every form field has its label.
    for id in ["position", "radius", "star-id", "adql", "period"] {
        assert!(page.contains(&format!(r#"<label for="{id}""#)), "{id}");
    }
    for (path, kind) in [
        ("/portal/app.js", "text/javascript"),
        ("/portal/style.css", "text/css"),
    ] {
        let (status, head, body) = server.get(path);
        assert_eq!(status, 200, "{path}");
        assert!(head.to_ascii_lowercase().contains(kind), "{path}: {head}");
        assert!(!body.is_empty());
    }
    let (_, _, script) = server.get("/portal/app.js");
    for unsafe_sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(
            !script.contains(unsafe_sink),
            "the script uses {unsafe_sink}"
        );
    }
    assert_eq!(server.get("/portal/nosuch.js").0, 404);
    // The plot the star page asks for, folded on a period; a bad period is a UsageFault.
    let star = common::csv_rows(
        &common::Skyql::new([
            "query",
            "--format",
            "csv",
            "SELECT star_id FROM stars WHERE n_r > 0 ORDER BY star_id LIMIT 1",
        ])
        .catalog(&cat)
        .ok(),
    )[0]["star_id"]
        .clone();
    let (status, _, svg) = server.get(&format!("/datalink/plot?ID={star}&FORMAT=svg&PERIOD=2.5"));
    assert_eq!(status, 200);
    assert!(svg.contains("phase (P = 2.5 d"), "{svg}");
    let (status, _, text) = server.get(&format!("/datalink/plot?ID={star}&PERIOD=-1"));
    assert_eq!(status, 400);
    assert!(text.starts_with("UsageFault: PERIOD=-1"), "{text}");
}
