//! ObsCore 1.1 (`ivoa.obscore`) as the service publishes it: an image row per image and a
//! timeseries row per star, with the standard's columns, units, UCDs and utypes in
//! TAP_SCHEMA; a region search gives the rows of a test of every row, and its plan lists
//! only the stars of the field the circle touches.

mod common;

use common::server::{Server, q};
use common::{Skyql, csv_rows};

use skyql::service::adql::translate_with;
use skyql::service::config::ServiceConfig;
use skyql::service::snapshot::{Snapshot, Source};

fn two_field_survey() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, _raw, cat) = common::two_field_survey();
    (tmp, cat)
}

async fn csv_of(snap: &Snapshot, sql: &str) -> Vec<String> {
    let batches = snap.ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut out = Vec::new();
    for b in &batches {
        let text = datafusion::arrow::util::pretty::pretty_format_batches(std::slice::from_ref(b))
            .unwrap()
            .to_string();
        out.extend(
            text.lines()
                .filter(|l| l.starts_with("| "))
                .skip(1)
                .map(str::to_string),
        );
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn region_searches_give_every_matching_row_and_read_only_the_fields_they_touch() {
    let (_tmp, cat) = two_field_survey();
    let snap = Snapshot::build(&Source {
        catalog: cat.clone(),
        config: ServiceConfig::default(),
        base_url: "http://127.0.0.1:1".into(),
        cluster: None,
        tables: Vec::new(),
    })
    .await
    .unwrap();
    let margin = snap.obscore_margin.expect("ivoa.obscore is registered");
    assert!(margin > 0.0 && margin < 1.0, "{margin}");
    // A circle around one lm035 image's centre.
    let centre = csv_of(
        &snap,
        "SELECT s_ra, s_dec FROM ivoa.obscore WHERE dataproduct_type = 'image' AND target_name = 'lm035' ORDER BY obs_id LIMIT 1",
    )
    .await;
    let cells: Vec<&str> = centre[0]
        .split('|')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let (ra, dec) = (cells[0], cells[1]);
    for (adql, every_row) in [
        (
            format!(
                "SELECT obs_id, dataproduct_type FROM ivoa.obscore WHERE INTERSECTS(s_region, CIRCLE('ICRS', {ra}, {dec}, 0.02)) = 1"
            ),
            format!(
                "SELECT obs_id, dataproduct_type FROM ivoa.obscore WHERE sky_region_meets_circle(s_region, {ra}, {dec}, 0.02)"
            ),
        ),
        (
            format!(
                "SELECT obs_id, dataproduct_type FROM ivoa.obscore WHERE CONTAINS(POINT('ICRS', {ra}, {dec}), s_region) = 1"
            ),
            format!(
                "SELECT obs_id, dataproduct_type FROM ivoa.obscore WHERE sky_region_contains(s_region, {ra}, {dec})"
            ),
        ),
    ] {
        let sql = translate_with(&adql, snap.obscore_margin).unwrap();
        let found = csv_of(&snap, &sql).await;
        assert_eq!(found, csv_of(&snap, &every_row).await, "{adql}");
        assert!(found.iter().any(|r| r.contains("image")), "{found:?}");
        let plan = csv_of(&snap, &format!("EXPLAIN {sql}")).await.join("\n");
        assert!(
            plan.contains("field=lm035") && !plan.contains("field=lm001"),
            "{plan}"
        );
    }
    let stars = csv_of(
        &snap,
        &translate_with(
            &format!("SELECT obs_id FROM ivoa.obscore WHERE dataproduct_type = 'timeseries' AND INTERSECTS(s_region, CIRCLE('ICRS', {ra}, {dec}, 0.05)) = 1"),
            snap.obscore_margin,
        )
        .unwrap(),
    )
    .await;
    assert!(!stars.is_empty());
}

#[test]
fn tap_schema_describes_the_mandatory_columns_and_rows_link_to_datalink() {
    let (_tmp, cat) = two_field_survey();
    let server = Server::start(&cat, None);
    let (_, _, columns) = server.get(&format!(
        "/tap/sync?LANG=ADQL&FORMAT=csv&QUERY={}",
        q("SELECT column_name, datatype, unit, ucd, utype, xtype FROM TAP_SCHEMA.columns WHERE table_name = 'ivoa.obscore'")
    ));
    let columns = csv_rows(&columns);
    assert_eq!(columns.len(), 30, "{columns:?}");
    let column = |name: &str| columns.iter().find(|c| c["column_name"] == name).unwrap();
    assert_eq!(column("s_region")["xtype"], "adql:REGION");
    assert_eq!(column("t_min")["unit"], "d");
    assert_eq!(column("access_estsize")["unit"], "kbyte");
    assert_eq!(
        column("obs_publisher_did")["utype"],
        "obscore:Curation.PublisherDID"
    );
    assert_eq!(column("calib_level")["datatype"], "int");
    // Counts: an image row per image with a WCS, a timeseries row per star with a position.
    let count = |sql: &str| {
        csv_rows(
            &Skyql::new(["query", "--format", "csv", sql])
                .catalog(&cat)
                .ok(),
        )[0]["n"]
            .clone()
    };
    let (_, _, kinds) = server.get(&format!(
        "/tap/sync?LANG=ADQL&FORMAT=csv&QUERY={}",
        q("SELECT dataproduct_type, COUNT(*) AS n FROM ivoa.obscore GROUP BY dataproduct_type ORDER BY dataproduct_type")
    ));
    let kinds = csv_rows(&kinds);
    assert_eq!(
        kinds[0]["n"],
        count("SELECT COUNT(*) AS n FROM images WHERE wcs IS NOT NULL")
    );
    assert_eq!(
        kinds[1]["n"],
        count("SELECT COUNT(*) AS n FROM stars WHERE ra IS NOT NULL")
    );
    // A light curve's row: its access_url is its DataLink links document, which answers.
    let (_, _, row) = server.get(&format!(
        "/tap/sync?LANG=ADQL&FORMAT=csv&QUERY={}",
        q("SELECT TOP 1 obs_publisher_did, access_url, access_format, t_min, t_max FROM ivoa.obscore WHERE dataproduct_type = 'timeseries'")
    ));
    let row = &csv_rows(&row)[0];
    assert!(
        row["obs_publisher_did"].starts_with("ivo://skyql.invalid/eros2?"),
        "{row:?}"
    );
    assert_eq!(
        row["access_format"],
        "application/x-votable+xml;content=datalink"
    );
    let t_min: f64 = row["t_min"].parse().unwrap();
    let t_max: f64 = row["t_max"].parse().unwrap();
    assert!(t_min > 50_000.0 && t_max >= t_min, "{row:?}");
    let path = row["access_url"]
        .split_once(&server.addr)
        .unwrap()
        .1
        .to_string();
    let (status, _, links) = server.get(&path);
    assert_eq!(status, 200);
    assert!(links.contains("#coderived"), "{links}");
    // The DID itself is a DataLink ID.
    let (_, _, by_did) = server.get(&format!(
        "/datalink/links?ID={}",
        q(&row["obs_publisher_did"])
    ));
    assert!(by_did.contains("#coderived"), "{by_did}");
}
