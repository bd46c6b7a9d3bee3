//! DataLink 1.1 on `skyql serve`: TAP and cone-search results carry a service descriptor
//! on `star_id` (and `file_name`), a star's links document lists its light curve (three
//! formats), its plot (PNG, SVG) and its reference images, every link answers what it
//! says, and unknown or missing IDs are faults as the standard names them.

mod common;

use common::server::{Server, q, served_catalog};
use common::{Skyql, csv_rows};

/// The cells of the links table's rows, by column name.
fn link_rows(doc: &str) -> Vec<std::collections::HashMap<String, String>> {
    let names: Vec<String> = doc
        .split("<FIELD name=\"")
        .skip(1)
        .map(|f| f.split('"').next().unwrap().to_string())
        .collect();
    doc.split("<TR>")
        .skip(1)
        .map(|tr| {
            let tr = tr.split("</TR>").next().unwrap();
            let cells: Vec<String> = tr
                .split("<TD>")
                .skip(1)
                .map(|td| {
                    td.split("</TD>")
                        .next()
                        .unwrap()
                        .replace("&amp;", "&")
                        .replace("&apos;", "'")
                })
                .collect();
            names.iter().cloned().zip(cells).collect()
        })
        .collect()
}

/// The path and query of a URL on the server.
fn local(url: &str, server: &Server) -> String {
    url.split_once(&server.addr).unwrap().1.to_string()
}

#[test]
fn a_star_is_one_call_from_its_light_curve_plot_and_images() {
    let (_tmp, cat) = served_catalog();
    let server = Server::start(&cat, None);
    let star = csv_rows(
        &Skyql::new([
            "query",
            "--format",
            "csv",
            "SELECT star_id FROM stars WHERE n_r > 0 AND n_b > 0 AND ra IS NOT NULL ORDER BY star_id LIMIT 1",
        ])
        .catalog(&cat)
        .ok(),
    )[0]["star_id"]
        .clone();
    // A TAP result: its star_id FIELD is the input of a DataLink service descriptor.
    let (_, _, doc) = server.get(&format!(
        "/tap/sync?LANG=ADQL&QUERY={}",
        q(&format!(
            "SELECT star_id, ra FROM eros2.stars WHERE star_id = '{star}'"
        ))
    ));
    assert!(
        doc.contains(r#"<FIELD name="star_id" ID="service_input""#),
        "{doc}"
    );
    assert!(
        doc.contains(r#"<RESOURCE type="meta" utype="adhoc:service""#)
            && doc.contains("ivo://ivoa.net/std/DataLink#links-1.1")
            && doc.contains(&format!("{}/datalink/links", server.addr))
            && doc.contains(r#"ref="service_input""#),
        "{doc}"
    );
    // The capabilities name both services.
    let (_, _, caps) = server.get("/tap/capabilities");
    assert!(
        caps.contains(r#"standardID="ivo://ivoa.net/std/DataLink#links-1.1""#)
            && caps.contains(r#"standardID="ivo://ivoa.net/std/SODA#sync-1.0""#),
        "{caps}"
    );
    // So does a cone search.
    let (_, _, cone) = server.get("/scs/stars?RA=0&DEC=0&SR=0");
    assert!(cone.contains("adhoc:service"), "{cone}");
    // The links of the star, by its publisher DID.
    let did = format!("ivo://skyql.invalid/eros2?{star}");
    let (status, head, doc) = server.get(&format!("/datalink/links?ID={}", q(&did)));
    assert_eq!(status, 200, "{doc}");
    assert!(head.contains("content=datalink"), "{head}");
    assert!(
        doc.contains(r#"<INFO name="standardID" value="ivo://ivoa.net/std/DataLink#links-1.1"/>"#)
    );
    let rows = link_rows(&doc);
    let of = |semantics: &str| -> Vec<&std::collections::HashMap<String, String>> {
        rows.iter()
            .filter(|r| r["semantics"] == semantics)
            .collect()
    };
    assert!(rows.iter().all(|r| r["ID"] == did), "{doc}");
    assert_eq!(of("#coderived").len(), 3, "{doc}");
    assert_eq!(of("#preview").len(), 2, "{doc}");
    assert!(!of("#auxiliary").is_empty(), "{doc}");
    // Every link answers its content type.
    let cli_rows = csv_rows(
        &Skyql::new(["query", "--format", "csv", "--named", "lightcurve"])
            .args(["--param", &format!("star={star}")])
            .catalog(&cat)
            .ok(),
    );
    for r in rows.iter().filter(|r| !r["access_url"].is_empty()) {
        let (status, head, body) =
            server.request_bytes("GET", &local(&r["access_url"], &server), "");
        assert_eq!(status, 200, "{}", r["access_url"]);
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("content-type: {}", r["content_type"])),
            "{} -> {head}",
            r["access_url"]
        );
        // A size given is the size sent; every light curve gives its size.
        if let Some(n) = r.get("content_length").filter(|n| !n.is_empty()) {
            assert_eq!(body.len().to_string(), *n, "{}", r["access_url"]);
        } else {
            assert_ne!(
                r["semantics"], "#coderived",
                "{} has no size",
                r["access_url"]
            );
        }
        match r["content_type"].as_str() {
            "application/x-votable+xml" => {
                let text = String::from_utf8_lossy(&body);
                assert_eq!(text.matches("<TR>").count(), cli_rows.len(), "{text}");
            }
            "text/csv" => {
                let rows = csv_rows(&String::from_utf8_lossy(&body).replace("\r\n", "\n"));
                assert_eq!(rows, cli_rows);
                // The link reads the light curve by its fixed plan; the same query through
                // TAP is planned by DataFusion: the same bytes.
                let (_, _, tap) = server.get(&format!(
                    "/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY={}",
                    q(&format!("SELECT star_id, mjd, colour, mag, mag_err FROM eros2.measurements WHERE star_id = '{star}' ORDER BY mjd, colour"))
                ));
                assert_eq!(String::from_utf8_lossy(&body), tap);
            }
            "application/fits" => {
                assert!(
                    body.starts_with(b"SIMPLE  =                    T"),
                    "{}",
                    r["access_url"]
                );
            }
            "image/png" => assert_eq!(&body[..8], b"\x89PNG\r\n\x1a\n"),
            "image/svg+xml" => assert!(String::from_utf8_lossy(&body).contains("<svg")),
            other => panic!("unexpected content type {other}"),
        }
    }
    let log = server.log.lock().unwrap().join("\n");
    assert!(
        log.contains("lightcurve path"),
        "the link's fixed plan: {log}"
    );
    // A cutout of each reference image, through a SODA descriptor pre-filled with the
    // image and a circle around the star: it answers a FITS image.
    let cutouts = of("#cutout");
    assert_eq!(cutouts.len(), of("#auxiliary").len(), "{doc}");
    for c in &cutouts {
        let def = &c["service_def"];
        let resource = doc
            .split(&format!(r#"ID="{def}""#))
            .nth(1)
            .unwrap_or_else(|| panic!("no descriptor {def}: {doc}"))
            .split("</RESOURCE>")
            .next()
            .unwrap();
        assert!(
            resource.contains("ivo://ivoa.net/std/SODA#sync-1.0"),
            "{resource}"
        );
        let value = |name: &str| {
            resource
                .split(&format!(r#"name="{name}""#))
                .nth(1)
                .unwrap()
                .split(r#"value=""#)
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string()
        };
        let path = format!(
            "/soda/sync?ID={}&CIRCLE={}",
            q(&value("ID")),
            q(&value("CIRCLE"))
        );
        let (status, head, body) = server.request_bytes("GET", &path, "");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/fits")
        );
        assert!(body.starts_with(b"SIMPLE  =                    T"));
    }
    // An image's own links: its FITS file and its quick-look PNG.
    let image = rows
        .iter()
        .find(|r| r["semantics"] == "#auxiliary")
        .unwrap()["access_url"]
        .split("ID=")
        .nth(1)
        .unwrap()
        .to_string();
    let (_, _, doc) = server.get(&format!("/datalink/links?ID={image}"));
    let image_rows = link_rows(&doc);
    assert_eq!(image_rows.len(), 2, "{doc}");
    assert_eq!(image_rows[0]["semantics"], "#this");
    assert_eq!(image_rows[1]["semantics"], "#preview");
    let (status, head, png) =
        server.request_bytes("GET", &local(&image_rows[1]["access_url"], &server), "");
    assert_eq!(status, 200, "{head}");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // Several IDs in one call, an unknown one among them: a NotFoundFault row for it.
    let (_, _, doc) = server.get(&format!("/datalink/links?ID={star}&ID=nosuchstar"));
    let both = link_rows(&doc);
    let fault: Vec<_> = both.iter().filter(|r| r["ID"] == "nosuchstar").collect();
    assert_eq!(fault.len(), 1, "{doc}");
    assert!(
        fault[0]["error_message"].starts_with("NotFoundFault:"),
        "{doc}"
    );
    assert!(fault[0]["access_url"].is_empty());
    assert_eq!(both.len(), rows.len() + 1);
    // No ID: a UsageFault; an unknown star's light curve: 404, said in words.
    let (status, _, doc) = server.get("/datalink/links");
    assert_eq!(status, 400);
    assert!(doc.contains("UsageFault"), "{doc}");
    let (status, _, text) = server.get("/datalink/lightcurve?ID=nosuchstar");
    assert_eq!(status, 404);
    assert!(text.starts_with("NotFoundFault"), "{text}");
    // An image is served only from the path the catalogue lists, never a path given.
    let (status, _, _) = server.get(&format!("/datalink/image?ID={}", q("/etc/passwd")));
    assert_eq!(status, 404);
    // More IDs than a call answers: the table ends with OVERFLOW after whole IDs.
    let many: String = (0..101).map(|i| format!("ID=x{i}&")).collect();
    let (_, _, doc) = server.request("POST", "/datalink/links", &many);
    assert_eq!(link_rows(&doc).len(), 100);
    assert!(doc.contains(r#"value="OVERFLOW""#), "{doc}");
}

#[test]
fn an_image_links_to_its_public_image_once_the_release_holds_it() {
    let (_tmp, cat) = served_catalog();
    let server = Server::start(&cat, None);
    let image = csv_rows(
        &Skyql::new([
            "query",
            "--format",
            "csv",
            "SELECT file_name FROM images WHERE code = 'e' ORDER BY file_name LIMIT 1",
        ])
        .catalog(&cat)
        .ok(),
    )[0]["file_name"]
        .clone();
    let semantics = |doc: &str| -> Vec<String> {
        link_rows(doc)
            .iter()
            .map(|r| r["semantics"].clone())
            .collect()
    };
    let (_, _, before) = server.get(&format!("/datalink/links?ID={image}"));
    assert_eq!(semantics(&before), ["#this", "#preview"], "{before}");
    let (status, _, body) = server.get(&format!("/datalink/public?ID={image}"));
    assert_eq!(status, 404, "{body}");
    assert!(body.starts_with("NotFoundFault"), "{body}");
    // The release's public images, written where the image functions write by default.
    let written = csv_rows(
        &Skyql::new(["query", "--format", "csv", "--named", "public_images"])
            .catalog(&cat)
            .ok(),
    );
    let mine = written
        .iter()
        .find(|r| r["file_name"] == image)
        .expect("the first current image gets a public image");
    let (_, _, after) = server.get(&format!("/datalink/links?ID={image}"));
    let rows = link_rows(&after);
    let public = rows
        .iter()
        .find(|r| r["semantics"] == "#derivation")
        .expect("a #derivation link");
    let file = std::fs::read(&mine["public_path"]).unwrap();
    assert_eq!(public["content_length"], file.len().to_string());
    let (status, head, bytes) =
        server.request_bytes("GET", &local(&public["access_url"], &server), "");
    assert_eq!(status, 200, "{head}");
    assert_eq!(bytes, file, "the public image's bytes");
    // Nothing but a catalogue image's own public file is ever named.
    for id in ["..%2F..%2Fetc%2Fpasswd", "nosuch.fits"] {
        let (status, _, body) = server.get(&format!("/datalink/public?ID={id}"));
        assert_eq!(status, 404, "{id}: {body}");
    }
}
